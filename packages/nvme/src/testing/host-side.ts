/**
 * The host side of a harness: what QEMU + Linux set up over a connected vfio-user client — guest RAM
 * DMA_MAPped (with its memfd, or served by DMA messages), interrupt eventfds bound with SET_IRQS,
 * config-space access, BAR mappings and the NVMe driver. Shared by the in-process harness and the
 * one whose controller runs on a worker thread.
 */
import { IrqIndex } from '@p2pkit/base';
import { closeFd, MappedRegion } from '@p2pkit/native';
import { DmaMapFlags, IrqSetFlags, RegionIndex, type VfioUserClient } from '@p2pkit/vfio-user';
import { NvmeTestDriver } from './driver.ts';
import { GuestMemory, type GuestMemoryOptions } from './guest-memory.ts';
import { InterruptEventFds } from './interrupt-eventfds.ts';

/** How the host side maps memory and binds interrupts. */
export interface HostSideOptions {
  dma: 'fd' | 'messages';
  interruptMode: 'msix' | 'intx';
  msixVectors: number;
  memory: GuestMemoryOptions | undefined;
  timeoutMs: number | undefined;
}

/** The host's view of a served controller; `release()` frees what `attachHost` allocated. */
export interface HostSide {
  readonly memory: GuestMemory;
  readonly interrupts: InterruptEventFds;
  readonly driver: NvmeTestDriver;
  configRead32(offset: number): Promise<number>;
  configWrite32(offset: number, value: number): Promise<void>;
  enableBusMaster(): Promise<void>;
  mapBar(index: 2 | 4): Promise<Uint8Array>;
  release(): void;
}

/** Maps guest memory, binds interrupts and enables bus mastering through `client`; frees all of it if a step fails. */
export async function attachHost(client: VfioUserClient, options: HostSideOptions): Promise<HostSide> {
  const maps: MappedRegion[] = [];
  let memory: GuestMemory | undefined;
  let interrupts: InterruptEventFds | undefined;
  const release = () => {
    for (const map of maps.splice(0)) map.unmap();
    memory?.close();
    interrupts?.close();
  };
  try {
    memory = new GuestMemory(options.memory);
    const access = DmaMapFlags.READ | DmaMapFlags.WRITE;
    if (options.dma === 'fd') await client.dmaMap({ address: memory.base, size: BigInt(memory.size), flags: access, fd: memory.fd });
    else {
      client.exposeMemory(memory.base, memory.bytes);
      await client.dmaMap({ address: memory.base, size: BigInt(memory.size), flags: access });
    }
    interrupts = new InterruptEventFds(options.interruptMode === 'msix' ? options.msixVectors : 1);
    await client.setIrqs({
      index: options.interruptMode === 'msix' ? IrqIndex.MSIX : IrqIndex.INTX,
      flags: IrqSetFlags.DATA_EVENTFD | IrqSetFlags.ACTION_TRIGGER,
      start: 0,
      count: interrupts.fds.length,
      fds: interrupts.fds.map((e) => e.fd),
    });
    const host: HostSide = {
      memory,
      interrupts,
      driver: new NvmeTestDriver(client, memory, options.timeoutMs),
      configRead32: (offset) => client.read32(RegionIndex.CONFIG, offset),
      configWrite32: (offset, value) => client.write32(RegionIndex.CONFIG, offset, value),
      enableBusMaster: () => client.write32(RegionIndex.CONFIG, 4, 0x6),
      async mapBar(index) {
        const info = await client.regionInfo(index);
        if (info.fd === undefined) throw new Error(`BAR${index} is not mappable (no region fd): is it configured (cmb/pmr options)?`);
        const map = MappedRegion.map(info.fd, 0, Number(info.size));
        closeFd(info.fd);
        maps.push(map);
        return map.bytes;
      },
      release,
    };
    await host.enableBusMaster();
    return host;
  } catch (e) {
    release();
    throw e;
  }
}
