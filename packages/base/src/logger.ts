/**
 * Log channels kept apart on purpose: a misbehaving guest driver or client is not a device bug.
 * - `guest`: the guest driver did something the device or spec forbids;
 * - `client`: the vfio-user client (QEMU) sent a malformed or unsupported message;
 * - `device`: the device model itself failed (a bug to fix in p2pkit or the device).
 */
export interface Logger {
  guest(message: string, detail?: Record<string, unknown>): void;
  client(message: string, detail?: Record<string, unknown>): void;
  device(message: string, detail?: Record<string, unknown>): void;
  info(message: string, detail?: Record<string, unknown>): void;
}

/** The channel names of a {@link Logger}. */
export type LogChannel = 'guest' | 'client' | 'device' | 'info';

/**
 * JSON for log details, which never throws: bigints (bus addresses) print as hex — plain
 * JSON.stringify throws on them, and a throwing log call inside an async device path became an
 * unhandled rejection that killed the server — Errors as `Name: message`, and anything JSON cannot
 * represent (cycles) as a placeholder.
 */
export function formatLogDetail(detail?: Record<string, unknown>): string {
  if (!detail) return '';
  try {
    return ` ${JSON.stringify(detail, (_k, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v instanceof Error ? `${v.name}: ${v.message}` : v))}`;
  } catch {
    return ' [detail not serialisable]';
  }
}

/** Writes each channel to stderr with its own prefix; `info` only when `verbose`. */
export function consoleLogger(name = 'p2pkit', verbose = false): Logger {
  const out = (tag: string) => (m: string, d?: Record<string, unknown>) =>
    process.stderr.write(`[${name}] ${tag}: ${m}${formatLogDetail(d)}\n`);
  return {
    guest: out('guest error'),
    client: out('client error'),
    device: out('DEVICE BUG'),
    info: verbose ? out('info') : () => {},
  };
}

/** A logger that records entries per channel (tests assert on them). */
export interface RecordingLogger extends Logger {
  entries: { channel: LogChannel; message: string; detail?: Record<string, unknown> }[];
}

/** A {@link RecordingLogger} with no entries yet. */
export function recordingLogger(): RecordingLogger {
  const entries: RecordingLogger['entries'] = [];
  const rec = (channel: LogChannel) => (message: string, detail?: Record<string, unknown>) => {
    entries.push(detail ? { channel, message, detail } : { channel, message });
  };
  return { entries, guest: rec('guest'), client: rec('client'), device: rec('device'), info: rec('info') };
}
