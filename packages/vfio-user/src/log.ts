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

const fmt = (d?: Record<string, unknown>) =>
  d ? ` ${JSON.stringify(d, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v))}` : '';

/** Writes each channel to stderr with its own prefix; `info` only when `verbose`. */
export function consoleLogger(name = 'p2pkit', verbose = false): Logger {
  const out = (tag: string) => (m: string, d?: Record<string, unknown>) => process.stderr.write(`[${name}] ${tag}: ${m}${fmt(d)}\n`);
  return {
    guest: out('guest error'),
    client: out('client error'),
    device: out('DEVICE BUG'),
    info: verbose ? out('info') : () => {},
  };
}

/** A logger that records entries per channel (tests assert on them). */
export interface RecordingLogger extends Logger {
  entries: { channel: 'guest' | 'client' | 'device' | 'info'; message: string; detail?: Record<string, unknown> }[];
}

export function recordingLogger(): RecordingLogger {
  const entries: RecordingLogger['entries'] = [];
  const rec = (channel: 'guest' | 'client' | 'device' | 'info') => (message: string, detail?: Record<string, unknown>) => {
    entries.push(detail ? { channel, message, detail } : { channel, message });
  };
  return { entries, guest: rec('guest'), client: rec('client'), device: rec('device'), info: rec('info') };
}
