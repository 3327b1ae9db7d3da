/** A timing profile from the figures a drive's datasheet lists. */
import type { NamespaceTiming } from './model.ts';

/** Datasheet figures; latencies are the typical QD1 4 KiB values. */
export interface DriveDatasheet {
  /** Typical random read latency, µs. */
  readLatencyUs: number;
  /** 99th percentile read latency, µs: reads become lognormal around `readLatencyUs` (their median). */
  readP99LatencyUs?: number;
  /** Typical write latency, µs; default `readLatencyUs`. */
  writeLatencyUs?: number;
  /** Flush latency, µs; default `writeLatencyUs`. */
  flushLatencyUs?: number;
  /**
   * 4 KiB random read IOPS at high queue depth. Sets the channels (commands in service at once) by
   * Little's law: IOPS × read latency. Default: no limit.
   */
  randomReadIops?: number;
  /** Sequential read rate, bytes/s (e.g. 3.5e9 for "3,500 MB/s"); default unlimited. */
  sequentialReadBytesPerSecond?: number;
  /** Sequential write rate, bytes/s; default unlimited. */
  sequentialWriteBytesPerSecond?: number;
}

/** The {@link NamespaceTiming} of a drive with these datasheet figures. */
export function datasheetTiming(d: DriveDatasheet): NamespaceTiming {
  const write = d.writeLatencyUs ?? d.readLatencyUs;
  const timing: NamespaceTiming = {
    latency: write,
    operations: {
      read: d.readP99LatencyUs === undefined ? d.readLatencyUs : { kind: 'lognormal', p50Us: d.readLatencyUs, p99Us: d.readP99LatencyUs },
      write,
      flush: d.flushLatencyUs ?? write,
    },
  };
  if (d.randomReadIops !== undefined) timing.channels = Math.max(1, Math.round((d.randomReadIops * d.readLatencyUs) / 1e6));
  if (d.sequentialReadBytesPerSecond !== undefined) timing.readBytesPerSecond = d.sequentialReadBytesPerSecond;
  if (d.sequentialWriteBytesPerSecond !== undefined) timing.writeBytesPerSecond = d.sequentialWriteBytesPerSecond;
  return timing;
}
