/** A minimal `newc` cpio writer (the host has no cpio), enough for an initramfs. */

/** One archive member. */
export type CpioEntry =
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'file'; path: string; data: Buffer; mode?: number }
  | { type: 'symlink'; path: string; target: string };

const TRAILER = 'TRAILER!!!';

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

function pad4(len: number): Buffer {
  return Buffer.alloc((4 - (len % 4)) % 4);
}

function header(ino: number, mode: number, nlink: number, size: number, name: string): Buffer {
  const fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, Buffer.byteLength(name) + 1, 0];
  const text = `070701${fields.map(hex8).join('')}${name}\0`;
  const buf = Buffer.from(text, 'latin1');
  return Buffer.concat([buf, pad4(buf.length)]);
}

/** Serialise entries (parents must precede children) into a newc archive. uid/gid are 0. */
export function cpioNewc(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  for (const e of entries) {
    const name = e.path.replace(/^\/+/, '');
    if (e.type === 'dir') {
      parts.push(header(ino++, 0o040000 | (e.mode ?? 0o755), 2, 0, name));
    } else if (e.type === 'file') {
      parts.push(header(ino++, 0o100000 | (e.mode ?? 0o644), 1, e.data.length, name), e.data, pad4(e.data.length));
    } else {
      const data = Buffer.from(e.target);
      parts.push(header(ino++, 0o120777, 1, data.length, name), data, pad4(data.length));
    }
  }
  parts.push(header(0, 0, 1, 0, TRAILER));
  return Buffer.concat(parts);
}
