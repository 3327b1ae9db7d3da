/**
 * sendmsg/recvmsg with SCM_RIGHTS ancillary data, using one native scratch block per socket:
 * msghdr @0 (56 bytes), iovec @64 (16), control @128, data @CONTROL_END.
 */
import { closeFd } from './fd.ts';
import { C, koffi, libc } from './libc.ts';

/** Most fds accepted in one message: QEMU's max_msg_fds. */
export const MAX_FDS_PER_MESSAGE = 16;
const IOV = 64;
const CONTROL = 128;
/** Largest payload carried together with fds in one sendmsg/recvmsg. */
export const SCRATCH_DATA_SIZE = 64 * 1024;

/** More fds arrived in one message than the receiver accepts; the fds that did arrive were closed. */
export class ControlTruncatedError extends Error {
  /**
   * The bytes received with the truncated control data: they are part of the stream, so a framing
   * layer can keep its place and refuse just that message.
   */
  readonly data: Buffer;
  constructor(data: Buffer = Buffer.alloc(0)) {
    super('control data truncated (too many fds in one message); the fds that arrived were closed');
    this.name = 'ControlTruncatedError';
    this.data = data;
  }
}

export class ScmScratch {
  readonly #ptr: unknown;
  readonly #base: bigint;
  readonly #view: DataView;
  readonly #bytes: Uint8Array;
  readonly #maxFds: number;
  readonly #controlSpace: number;
  readonly #data: number;
  #freed = false;

  /** `maxFds`: the most fds accepted per received message; more is reported as truncation. */
  constructor(maxFds = MAX_FDS_PER_MESSAGE) {
    this.#maxFds = maxFds;
    this.#controlSpace = 16 + ((maxFds * 4 + 7) & ~7);
    this.#data = CONTROL + this.#controlSpace + 64;
    const size = this.#data + SCRATCH_DATA_SIZE;
    this.#ptr = koffi.alloc('uint8_t', size);
    this.#base = koffi.address(this.#ptr);
    const ab = koffi.view(this.#ptr, size);
    this.#view = new DataView(ab);
    this.#bytes = new Uint8Array(ab);
  }

  #prepare(dataLength: number, controlLength: number): void {
    this.#bytes.fill(0, 0, CONTROL + this.#controlSpace);
    const v = this.#view;
    v.setBigUint64(16, this.#base + BigInt(IOV), true); // msg_iov
    v.setBigUint64(24, 1n, true); // msg_iovlen
    v.setBigUint64(32, controlLength ? this.#base + BigInt(CONTROL) : 0n, true);
    v.setBigUint64(40, BigInt(controlLength), true);
    v.setBigUint64(IOV, this.#base + BigInt(this.#data), true);
    v.setBigUint64(IOV + 8, BigInt(dataLength), true);
  }

  /** sendmsg(data, fds); returns bytes sent, or -errno. */
  send(fd: number, data: Uint8Array, fds: readonly number[]): number {
    if (data.length > SCRATCH_DATA_SIZE) throw new RangeError('message with fds too large');
    if (fds.length > this.#maxFds) throw new RangeError(`at most ${this.#maxFds} fds per message`);
    const cmsgLen = 16 + 4 * fds.length;
    this.#prepare(data.length, fds.length ? (cmsgLen + 7) & ~7 : 0);
    if (fds.length) {
      const v = this.#view;
      v.setBigUint64(CONTROL, BigInt(cmsgLen), true);
      v.setInt32(CONTROL + 8, C.SOL_SOCKET, true);
      v.setInt32(CONTROL + 12, C.SCM_RIGHTS, true);
      for (const [i, f] of fds.entries()) v.setInt32(CONTROL + 16 + 4 * i, f, true);
    }
    this.#bytes.set(data, this.#data);
    const n = Number(libc.sendmsg(fd, this.#ptr, C.MSG_NOSIGNAL | C.MSG_DONTWAIT));
    return n < 0 ? -koffi.errno() : n;
  }

  /**
   * recvmsg up to `max` bytes. Returns -errno on failure. Throws ControlTruncatedError (after
   * closing whatever fds arrived) when the kernel truncated the control data.
   */
  recv(fd: number, max: number): { data: Buffer; fds: number[] } | number {
    const len = Math.min(max, SCRATCH_DATA_SIZE);
    this.#prepare(len, this.#controlSpace);
    const n = Number(libc.recvmsg(fd, this.#ptr, C.MSG_CMSG_CLOEXEC | C.MSG_DONTWAIT));
    if (n < 0) return -koffi.errno();
    const fds = this.#collectFds();
    const data = Buffer.from(this.#bytes.subarray(this.#data, this.#data + n));
    if (this.#view.getInt32(48, true) & C.MSG_CTRUNC) {
      for (const f of fds) closeFd(f);
      throw new ControlTruncatedError(data);
    }
    return { data, fds };
  }

  #collectFds(): number[] {
    const v = this.#view;
    const controlLength = Number(v.getBigUint64(40, true));
    const fds: number[] = [];
    let off = 0;
    while (off + 16 <= controlLength) {
      const len = Number(v.getBigUint64(CONTROL + off, true));
      if (len < 16) break;
      const level = v.getInt32(CONTROL + off + 8, true);
      const type = v.getInt32(CONTROL + off + 12, true);
      if (level === C.SOL_SOCKET && type === C.SCM_RIGHTS) {
        for (let p = 16; p + 4 <= len; p += 4) fds.push(v.getInt32(CONTROL + off + p, true));
      }
      off += (len + 7) & ~7;
    }
    return fds;
  }

  free(): void {
    if (this.#freed) return;
    this.#freed = true;
    koffi.free(this.#ptr);
  }
}
