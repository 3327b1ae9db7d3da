/**
 * The NIC stub's rings: TX reads descriptors and frames by DMA and hands each frame to the link;
 * RX places frames that arrived into the buffers of posted descriptors. Every byte moves through
 * `dev.dma`, so a buffer may be guest RAM, a peer's BAR (a CMB, a PMR, VRAM) or anything routed.
 */
import { hex } from '@p2pkit/base';
import type { NicState } from './nic-link.ts';
import { bump, DESCRIPTOR_SIZE, DescFlags, NicInt, NicReg, NicVector } from './nic-regs.ts';

const flagsBytes = (flags: number) => Uint8Array.of(flags & 0xff, flags >> 8);
/** Lets socket reads and MMIO replies run between frames (memfd-backed DMA resolves without I/O). */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Sends the frames of descriptors TX_HEAD..TX_TAIL-1; one TX interrupt per drained batch. */
export async function transmit(s: NicState): Promise<void> {
  if (s.txBusy) return;
  s.txBusy = true;
  const { regs: r, generation, dev } = s;
  let sent = false;
  try {
    for (;;) {
      const [head, size] = [r.getUint32(NicReg.TX_HEAD, true), r.getUint32(NicReg.TX_SIZE, true)];
      if (head === r.getUint32(NicReg.TX_TAIL, true) || head >= size) break;
      const desc = r.getBigUint64(NicReg.TX_BASE, true) + BigInt(head * DESCRIPTOR_SIZE);
      let flags: number = DescFlags.DONE;
      try {
        const d = new DataView((await dev.dma.read(desc, DESCRIPTOR_SIZE)).slice().buffer);
        const length = d.getUint16(8, true);
        if (length === 0) throw new Error('zero-length TX descriptor');
        const frame = await dev.dma.read(d.getBigUint64(0, true), length);
        if (s.generation !== generation) return;
        if (!s.link) throw new Error('link down');
        s.link.send(frame.slice());
        bump(r, NicReg.TX_FRAMES);
      } catch (e) {
        if (s.generation !== generation) return;
        flags |= DescFlags.ERROR;
        bump(r, NicReg.TX_ERRORS);
        if ((e as Error).message !== 'link down') dev.guestError(`nic: TX descriptor ${head} at ${hex(desc)}: ${(e as Error).message}`);
      }
      try {
        await dev.dma.write(desc + 10n, flagsBytes(flags));
      } catch (e) {
        dev.guestError(`nic: TX write-back at ${hex(desc)}: ${(e as Error).message}`);
      }
      if (s.generation !== generation) return;
      if (r.getUint32(NicReg.TX_HEAD, true) === head) r.setUint32(NicReg.TX_HEAD, (head + 1) % size, true); // unless the ring was re-initialised
      r.setUint32(NicReg.INT_STATUS, r.getUint32(NicReg.INT_STATUS, true) | NicInt.TX, true);
      sent = true;
      if (r.getUint32(NicReg.TX_HEAD, true) !== r.getUint32(NicReg.TX_TAIL, true)) await yieldToEventLoop(); // more to send
    }
  } finally {
    if (s.generation === generation) {
      s.txBusy = false;
      if (sent) dev.raise(NicVector.TX);
    }
  }
}

/** Places queued frames into the buffers of descriptors RX_HEAD..RX_TAIL-1; one RX interrupt per burst. */
export async function receive(s: NicState): Promise<void> {
  if (s.rxBusy) return;
  s.rxBusy = true;
  const { regs: r, generation, dev } = s;
  let received = false;
  try {
    for (let frame = s.rxQueue.shift(); frame; frame = s.rxQueue.shift()) {
      const [head, size] = [r.getUint32(NicReg.RX_HEAD, true), r.getUint32(NicReg.RX_SIZE, true)];
      if (head === r.getUint32(NicReg.RX_TAIL, true) || head >= size) {
        bump(r, NicReg.RX_DROPPED); // no buffer posted: dropped, as on a wire
        continue;
      }
      const desc = r.getBigUint64(NicReg.RX_BASE, true) + BigInt(head * DESCRIPTOR_SIZE);
      try {
        const d = new DataView((await dev.dma.read(desc, DESCRIPTOR_SIZE)).slice().buffer);
        if (s.generation !== generation) return;
        if (frame.length > d.getUint16(8, true)) {
          bump(r, NicReg.RX_DROPPED);
          continue;
        }
        await dev.dma.write(d.getBigUint64(0, true), frame);
        await dev.dma.write(desc + 8n, Uint8Array.of(frame.length & 0xff, frame.length >> 8, ...flagsBytes(DescFlags.DONE)));
      } catch (e) {
        if (s.generation !== generation) return;
        bump(r, NicReg.RX_DROPPED);
        dev.guestError(`nic: RX descriptor ${head} at ${hex(desc)}: ${(e as Error).message}`);
        continue;
      }
      if (s.generation !== generation) return;
      if (r.getUint32(NicReg.RX_HEAD, true) === head) r.setUint32(NicReg.RX_HEAD, (head + 1) % size, true);
      r.setUint32(NicReg.INT_STATUS, r.getUint32(NicReg.INT_STATUS, true) | NicInt.RX, true);
      bump(r, NicReg.RX_FRAMES);
      received = true;
      if (s.rxQueue.length > 0) await yieldToEventLoop(); // more to place
    }
  } finally {
    if (s.generation === generation) {
      s.rxBusy = false;
      if (received) dev.raise(NicVector.RX);
    }
  }
}
