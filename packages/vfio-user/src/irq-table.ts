import { Errno } from '@p2pkit/base';
import { closeFd, signalEventFd } from '@p2pkit/native';
import type { SetIrqsPayload } from './codec.ts';
import type { IrqInfo } from './device.ts';
import { IrqInfoFlags } from './device.ts';
import { IRQ_ACTION_MASK, IRQ_DATA_MASK, IrqSetFlags } from './protocol.ts';

interface Vector {
  fd?: number;
  resampleFd?: number;
  masked: boolean;
  pending: boolean;
}

/**
 * Interrupt state driven by SET_IRQS: one eventfd per vector, masks, and INTx's automask
 * (after a trigger the line stays masked until the client unmasks it).
 */
export class IrqTable {
  readonly #infos: IrqInfo[];
  readonly #vectors: Vector[][];

  constructor(infos: IrqInfo[]) {
    this.#infos = infos;
    this.#vectors = infos.map((i) => Array.from({ length: i.count }, () => ({ masked: false, pending: false })));
  }

  /**
   * Apply one SET_IRQS request; takes ownership of `fds` (closed on error or when replaced).
   * Returns 0 or a positive errno for the reply.
   */
  apply(req: SetIrqsPayload, fds: number[]): number {
    const errno = this.#validate(req, fds);
    if (errno) {
      for (const fd of fds) closeFd(fd);
      return errno;
    }
    const vectors = this.#vectors[req.index] as Vector[];
    const data = req.flags & IRQ_DATA_MASK;
    const action = req.flags & IRQ_ACTION_MASK;
    const selected = (i: number) => data !== IrqSetFlags.DATA_BOOL || req.data[i] !== 0;

    if (action === IrqSetFlags.ACTION_TRIGGER && data === IrqSetFlags.DATA_NONE && req.count === 0) {
      for (const v of vectors) this.#release(v); // disable the whole index
      return 0;
    }
    for (let i = 0; i < req.count; i++) {
      const v = vectors[req.start + i] as Vector;
      if (action === IrqSetFlags.ACTION_TRIGGER) {
        if (data === IrqSetFlags.DATA_EVENTFD) {
          if (v.fd !== undefined) closeFd(v.fd);
          v.fd = fds.length ? fds[i] : undefined;
          v.pending = false;
        } else if (selected(i)) {
          this.trigger(req.index, req.start + i);
        }
      } else if (action === IrqSetFlags.ACTION_MASK) {
        if (selected(i)) v.masked = true;
      } else if (data === IrqSetFlags.DATA_EVENTFD) {
        if (v.resampleFd !== undefined) closeFd(v.resampleFd);
        v.resampleFd = fds.length ? fds[i] : undefined;
      } else if (selected(i)) {
        v.masked = false;
        if (v.pending) {
          v.pending = false;
          this.trigger(req.index, req.start + i);
        }
      }
    }
    return 0;
  }

  #validate(req: SetIrqsPayload, fds: number[]): number {
    const info = this.#infos[req.index];
    if (!info) return Errno.EINVAL;
    const data = req.flags & IRQ_DATA_MASK;
    const action = req.flags & IRQ_ACTION_MASK;
    if (req.flags & ~(IRQ_DATA_MASK | IRQ_ACTION_MASK)) return Errno.EINVAL;
    if (![1, 2, 4].includes(data) || ![8, 0x10, 0x20].includes(action)) return Errno.EINVAL;
    if (req.count === 0) {
      const disableAll = data === IrqSetFlags.DATA_NONE && action === IrqSetFlags.ACTION_TRIGGER;
      return disableAll && fds.length === 0 ? 0 : Errno.EINVAL;
    }
    if (req.start + req.count > info.count) return Errno.EINVAL;
    if (action !== IrqSetFlags.ACTION_TRIGGER && !(info.flags & IrqInfoFlags.MASKABLE)) return Errno.EINVAL;
    if (data === IrqSetFlags.DATA_EVENTFD) {
      if (action === IrqSetFlags.ACTION_MASK) return Errno.EINVAL;
      if (fds.length !== 0 && fds.length !== req.count) return Errno.EINVAL;
      if (fds.length === 0 && action === IrqSetFlags.ACTION_UNMASK) return Errno.EINVAL;
    } else if (fds.length) {
      return Errno.EINVAL;
    }
    if (data === IrqSetFlags.DATA_BOOL && req.data.length < req.count) return Errno.EINVAL;
    return 0;
  }

  /** Signal a vector. INTx automasks after signalling. Returns whether an eventfd was signalled. */
  trigger(index: number, vector: number): boolean {
    const v = this.#vectors[index]?.[vector];
    if (!v || v.fd === undefined) return false;
    if (v.masked) {
      v.pending = true;
      return false;
    }
    signalEventFd(v.fd);
    if (this.#infos[index]?.flags && (this.#infos[index] as IrqInfo).flags & IrqInfoFlags.AUTOMASKED) v.masked = true;
    return true;
  }

  isEnabled(index: number): boolean {
    return this.#vectors[index]?.some((v) => v.fd !== undefined) ?? false;
  }

  isMasked(index: number, vector: number): boolean {
    return this.#vectors[index]?.[vector]?.masked ?? false;
  }

  /** Close every fd and forget masks (client disconnect). */
  clear(): void {
    for (const vs of this.#vectors) for (const v of vs) this.#release(v);
  }

  #release(v: Vector): void {
    if (v.fd !== undefined) closeFd(v.fd);
    if (v.resampleFd !== undefined) closeFd(v.resampleFd);
    v.fd = undefined;
    v.resampleFd = undefined;
    v.masked = false;
    v.pending = false;
  }
}
