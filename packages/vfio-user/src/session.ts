import { type DeviceContext, Errno, type IrqIndexValue, type Logger } from '@p2pkit/base';
import { closeFd } from '@p2pkit/native';
import type { Header, Message } from './codec.ts';
import * as codec from './codec.ts';
import { RegionFlags, type RegionInfo, type VfioUserDevice } from './device.ts';
import { DmaRequests } from './dma-requests.ts';
import { DmaWindowTable, WindowError } from './dma-windows.ts';
import { MalformedMessageError } from './errors.ts';
import { IrqTable } from './irq-table.ts';

import { Command, commandName, DeviceFlags, DmaUnmapFlags } from './protocol.ts';
import { ServerDmaSpace } from './server-dma.ts';
import type { MessageRefusal, Transport } from './transport.ts';

export interface SessionOptions {
  /** Largest REGION_READ/WRITE and DMA payload we accept (max_data_xfer_size). */
  maxDataXferSize: number;
  maxDmaMaps: number;
  /** Advertise REGION_WRITE_MULTI support to the client. */
  writeMultiple: boolean;
  /** Deadline for the client's answer to our DMA_READ/DMA_WRITE. */
  dmaTimeoutMs: number;
  /**
   * Largest data payload of one DMA_READ/DMA_WRITE we send. QEMU 11.1.3 stalled on ~1 MiB requests
   * into an emulated device's MMIO (its reply never came, and the stream desynchronised); 64 KiB
   * was verified against a QEMU nvme CMB (scenarios/p2pkit-nvme-p2p.scenario.ts, its last step).
   */
  dmaMessageBytes: number;
  /**
   * Server→client DMA requests outstanding at once. QEMU 11.1.3 once aborted
   * (`error_setv: Assertion *errp == NULL`) with many requests in flight; one at a time is the
   * pattern verified against it.
   */
  maxDmaInFlight: number;
  logger: Logger;
}

type Outcome = { payload?: Uint8Array; fds?: number[] } | { errno: number };

/**
 * One client connection. Requests are handled synchronously in arrival order. Server→client DMA
 * requests created while a request is being handled wait in an outbox that is flushed only after
 * the reply is queued: the client (QEMU) can therefore never be waiting for our reply while we
 * wait for its DMA answer — no deadlock by construction.
 */
export class ClientSession {
  readonly windows: DmaWindowTable;
  readonly irqs: IrqTable;
  readonly dma: ServerDmaSpace;
  /** Messages handled, by command name. */
  readonly stats = new Map<string, number>();
  readonly #transport: Transport;
  readonly #device: VfioUserDevice;
  readonly #options: SessionOptions;
  readonly #log: Logger;
  readonly #regions: RegionInfo[];
  readonly #requests: DmaRequests;
  #negotiated = false;
  #clientMaxXfer = 1 << 20;
  #ended = false;

  constructor(transport: Transport, device: VfioUserDevice, options: SessionOptions, onEnd: (reason?: Error) => void) {
    this.#transport = transport;
    this.#device = device;
    this.#options = options;
    this.#log = options.logger;
    this.#regions = device.regions();
    this.windows = new DmaWindowTable(options.maxDmaMaps);
    this.irqs = new IrqTable(device.irqs());
    this.#requests = new DmaRequests(transport, options, this.#log);
    this.dma = new ServerDmaSpace(
      this.windows,
      (k, a, n, d) => this.#requests.request(k, a, n, d),
      () => Math.min(this.#clientMaxXfer, options.maxDataXferSize, options.dmaMessageBytes),
    );
    const ctx: DeviceContext = {
      dma: this.dma,
      irq: {
        trigger: (index: IrqIndexValue, vector: number) => this.irqs.trigger(index, vector),
        isEnabled: (index: IrqIndexValue) => this.irqs.isEnabled(index),
      },
      guestError: (m, d) => this.#log.guest(m, d),
      deviceError: (m, d) => this.#log.device(m, d),
    };
    device.attach(ctx);
    transport.start(
      (m, refusal) => (refusal ? this.#refuse(m, refusal) : this.#onMessage(m)),
      (reason) => {
        this.#end(reason);
        onEnd(reason);
      },
    );
  }

  /** Disconnect the client. */
  close(): void {
    this.#transport.close();
  }

  /**
   * Ends the session now if the client has already hung up (its EOF may still be queued behind a
   * new connection on the event loop). Returns whether the session is over.
   */
  settleIfHungUp(): boolean {
    if (this.#ended) return true;
    if (!this.#transport.settleIfHungUp?.()) return false;
    this.#end(); // an in-memory transport reports its close later; the session is over now
    return true;
  }

  /** A message the transport cut short (too large, too many fds): an error reply, a client line. */
  #refuse(m: Message, refusal: MessageRefusal): void {
    for (const fd of m.fds) closeFd(fd);
    const h = m.header;
    if (codec.isReply(h)) return this.#requests.onReply(h, m.payload, refusal);
    this.#log.client(`${commandName(h.command)} refused: ${refusal.reason}`, { errno: refusal.errno });
    if (codec.wantsReply(h)) this.#transport.send(codec.errorReply(h, refusal.errno));
  }

  #onMessage(m: Message): void {
    const h = m.header;
    if (codec.isReply(h)) {
      for (const fd of m.fds) closeFd(fd);
      this.#requests.onReply(h, m.payload);
      return;
    }
    const name = commandName(h.command);
    this.stats.set(name, (this.stats.get(name) ?? 0) + 1);
    this.#requests.handling = true;
    let outcome: Outcome;
    try {
      outcome = this.#dispatch(h, m.payload, m.fds);
    } catch (e) {
      outcome = this.#failure(h, e);
    } finally {
      this.#requests.handling = false;
    }
    if (codec.wantsReply(h)) {
      if ('errno' in outcome) this.#transport.send(codec.errorReply(h, outcome.errno));
      else this.#transport.send(codec.reply(h, outcome.payload), outcome.fds);
    } else if ('errno' in outcome) {
      this.#log.client(`${commandName(h.command)} (no reply wanted) failed`, { errno: outcome.errno });
    }
    this.#requests.flushOutbox();
  }

  #failure(h: Header, e: unknown): Outcome {
    if (e instanceof MalformedMessageError) {
      this.#log.client(`malformed ${commandName(h.command)}: ${e.message}`);
      return { errno: e.errno };
    }
    if (e instanceof WindowError) {
      this.#log.client(`${commandName(h.command)}: ${e.message}`);
      return { errno: e.errno };
    }
    this.#log.device(`${commandName(h.command)} handler threw: ${(e as Error)?.stack ?? e}`);
    return { errno: Errno.EIO };
  }

  #dispatch(h: Header, p: Buffer, fds: number[]): Outcome {
    const takesFds = h.command === Command.DMA_MAP || h.command === Command.DEVICE_SET_IRQS;
    if (!takesFds && fds.length) {
      for (const fd of fds.splice(0)) closeFd(fd);
      this.#log.client(`${commandName(h.command)} carried unexpected fds; closed them`);
    }
    if (h.command !== Command.VERSION && !this.#negotiated) {
      for (const fd of fds) closeFd(fd);
      this.#log.client(`${commandName(h.command)} before VERSION`);
      return { errno: Errno.EINVAL };
    }
    switch (h.command) {
      case Command.VERSION:
        return this.#version(p);
      case Command.DMA_MAP:
        return this.#dmaMap(p, fds);
      case Command.DMA_UNMAP:
        return this.#dmaUnmap(p);
      case Command.DEVICE_GET_INFO:
        return this.#deviceInfo(p);
      case Command.DEVICE_GET_REGION_INFO:
        return this.#regionInfo(p);
      case Command.DEVICE_GET_IRQ_INFO:
        return this.#irqInfo(p);
      case Command.DEVICE_SET_IRQS: {
        let req: codec.SetIrqsPayload;
        try {
          req = codec.decodeSetIrqs(p);
        } catch (e) {
          for (const fd of fds) closeFd(fd);
          throw e;
        }
        const errno = this.irqs.apply(req, fds);
        if (errno) this.#log.client('SET_IRQS refused', { index: req.index, flags: req.flags, start: req.start, count: req.count });
        return errno ? { errno } : {};
      }
      case Command.REGION_READ:
        return this.#regionRead(p);
      case Command.REGION_WRITE:
        return this.#regionWrite(p);
      case Command.REGION_WRITE_MULTI:
        for (const e of codec.decodeWriteMulti(p)) this.#checkedWrite(e.region, e.offset, e.data);
        return {};
      case Command.DEVICE_RESET:
        this.#device.reset();
        return {};
      default:
        for (const fd of fds) closeFd(fd);
        this.#log.client(`unsupported ${commandName(h.command)}`);
        return { errno: Errno.ENOSYS };
    }
  }

  #version(p: Buffer): Outcome {
    const v = codec.decodeVersion(p);
    if (v.major !== 0) {
      this.#log.client(`client proposes version ${v.major}.${v.minor}; only 0.x is supported`);
      return { errno: Errno.ENOTSUP };
    }
    const xfer = v.capabilities.max_data_xfer_size;
    if (typeof xfer === 'number' && xfer > 0) this.#clientMaxXfer = xfer;
    this.#negotiated = true;
    const capabilities: Record<string, unknown> = {
      max_msg_fds: 16,
      max_data_xfer_size: this.#options.maxDataXferSize,
      pgsizes: 4096,
      max_dma_maps: this.#options.maxDmaMaps,
    };
    if (this.#options.writeMultiple) capabilities.write_multiple = true;
    return { payload: codec.encodeVersion({ major: 0, minor: 0, capabilities }) };
  }

  #dmaMap(p: Buffer, fds: number[]): Outcome {
    try {
      const m = codec.decodeDmaMap(p);
      if (fds.length > 1) throw new MalformedMessageError(`DMA_MAP with ${fds.length} fds`);
      this.windows.add(m.address, m.size, m.flags, fds[0], fds.length ? m.offset : 0n);
      return {};
    } finally {
      for (const fd of fds) closeFd(fd); // the mapping keeps the memory; the fd is not needed
    }
  }

  #dmaUnmap(p: Buffer): Outcome {
    const u = codec.decodeDmaUnmap(p);
    if (u.flags & DmaUnmapFlags.GET_DIRTY_BITMAP) return { errno: Errno.ENOTSUP };
    if (u.flags & ~DmaUnmapFlags.ALL) throw new MalformedMessageError(`DMA_UNMAP flags 0x${u.flags.toString(16)}`);
    if (u.flags & DmaUnmapFlags.ALL) {
      if (u.address || u.size) throw new MalformedMessageError('DMA_UNMAP ALL with an address or size');
      this.windows.removeAll();
    } else {
      this.windows.removeRange(u.address, u.size); // type1 semantics: all windows inside, none split
    }
    return { payload: p.subarray(0, 24) };
  }

  #deviceInfo(p: Buffer): Outcome {
    if (codec.decodeArgsz(p, 'DEVICE_GET_INFO') < 16) throw new MalformedMessageError('DEVICE_GET_INFO argsz < 16');
    return {
      payload: codec.encodeDeviceInfo({
        argsz: 16,
        flags: DeviceFlags.PCI | DeviceFlags.RESET,
        numRegions: this.#regions.length,
        numIrqs: this.#device.irqs().length,
      }),
    };
  }

  #regionInfo(p: Buffer): Outcome {
    const req = codec.decodeRegionInfo(p);
    if (req.argsz < 32) throw new MalformedMessageError('GET_REGION_INFO argsz < 32');
    const r = this.#regions[req.index];
    if (!r) throw new MalformedMessageError(`GET_REGION_INFO index ${req.index} out of range`);
    const full = codec.encodeRegionInfo({
      flags: r.flags,
      index: r.index,
      size: r.size,
      offset: r.fdOffset ?? 0n,
      ...(r.sparseMmap?.length ? { sparse: r.sparseMmap } : {}),
    });
    const fits = full.length <= req.argsz;
    const fds = fits && r.fd !== undefined && r.fd >= 0 && r.flags & RegionFlags.MMAP ? [r.fd] : [];
    return { payload: fits ? full : full.subarray(0, req.argsz), fds };
  }

  #irqInfo(p: Buffer): Outcome {
    const req = codec.decodeIrqInfo(p);
    if (req.argsz < 16) throw new MalformedMessageError('GET_IRQ_INFO argsz < 16');
    const info = this.#device.irqs()[req.index];
    if (!info) throw new MalformedMessageError(`GET_IRQ_INFO index ${req.index} out of range`);
    return { payload: codec.encodeIrqInfo({ argsz: 16, flags: info.flags, index: info.index, count: info.count }) };
  }

  #checkAccess(region: number, offset: bigint, count: number, write: boolean): RegionInfo {
    const r = this.#regions[region];
    if (!r) throw new MalformedMessageError(`region ${region} does not exist`);
    const needed = write ? RegionFlags.WRITE : RegionFlags.READ;
    if (!(r.flags & needed)) throw new MalformedMessageError(`region ${region} is not ${write ? 'writable' : 'readable'}`);
    if (count === 0 || count > this.#options.maxDataXferSize) throw new MalformedMessageError(`access of ${count} bytes`);
    if (offset + BigInt(count) > r.size) {
      throw new MalformedMessageError(
        `access [0x${offset.toString(16)}, +${count}) beyond region ${region} of 0x${r.size.toString(16)} bytes`,
      );
    }
    return r;
  }

  #regionRead(p: Buffer): Outcome {
    const a = codec.decodeRegionAccess(p, 'REGION_READ');
    this.#checkAccess(a.region, a.offset, a.count, false);
    const data = this.#device.regionRead(a.region, a.offset, a.count);
    if (data.length !== a.count) {
      this.#log.device(`region ${a.region} read returned ${data.length} bytes, ${a.count} expected`);
      return { errno: Errno.EIO };
    }
    return { payload: codec.encodeRegionAccess({ offset: a.offset, region: a.region, count: a.count, data }) };
  }

  #regionWrite(p: Buffer): Outcome {
    const a = codec.decodeRegionAccess(p, 'REGION_WRITE');
    if (a.data.length !== a.count) throw new MalformedMessageError(`REGION_WRITE count ${a.count} with ${a.data.length} data bytes`);
    this.#checkedWrite(a.region, a.offset, a.data);
    return { payload: p.subarray(0, 16) };
  }

  #checkedWrite(region: number, offset: bigint, data: Uint8Array): void {
    this.#checkAccess(region, offset, data.length, true);
    this.#device.regionWrite(region, offset, data);
  }

  #end(reason?: Error): void {
    if (this.#ended) return;
    this.#ended = true;
    if (reason) this.#log.client(`connection ended: ${reason.message}`);
    this.#requests.end();
    this.windows.removeAll();
    this.irqs.clear();
    try {
      this.#device.detach();
    } catch (e) {
      this.#log.device(`detach threw: ${(e as Error).message}`);
    }
  }
}
