/**
 * The one shape every device factory returns (`createNvme`, `createGpu`, `createNic`, …), so that
 * whatever serves devices — a vfio-user server, a fabric, the testbed's `Rig` — takes them alike.
 */
import type { Endpoint } from './endpoint.ts';

/**
 * A device instance: the PCI endpoint to serve, plus whatever the device owns besides it (files,
 * controllers, timers). Factories follow one signature style,
 * `createX(options, instance?: EndpointInstanceOptions) → Promise<XDevice>`, where `XDevice`
 * extends this with device-specific accessors. Serving it never closes it: its creator does.
 */
export interface DeviceInstance extends AsyncDisposable {
  /** The endpoint to serve (its memory BARs are memfd-backed unless the factory was told otherwise). */
  readonly endpoint: Endpoint;
  /** Flushes what the device persists, then releases its memory and files. Call once it is no longer served. */
  close(): Promise<void>;
}
