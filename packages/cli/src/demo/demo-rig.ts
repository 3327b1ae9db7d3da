/**
 * The demo's system: a root port, a switch, and below it the p2pmem provider (p2pkit NVMe A, or
 * QEMU's nvme) and p2pkit NVMe B, which is copied from and to. The same description feeds the
 * fabric model and QEMU.
 */
import { join } from 'node:path';
import { consoleLogger, rateLimitedLogger } from '@p2pkit/base';
import { qemuNvme, topology } from '@p2pkit/fabric';
import { createNvme, type NvmeDevice } from '@p2pkit/nvme';
import { Rig } from '@p2pkit/testbed';
import type { ResolvedDemoOptions } from './options.ts';

const MiB = 1 << 20;

/** Serial numbers the guest finds the controllers by. */
export const PROVIDER_SERIAL = 'DEMO-A';
export const COPY_SERIAL = 'DEMO-B';
/** Fabric id of the provider. */
export const PROVIDER_ID = 'nvmeA';

/** The served devices and the rig; `close()` stops serving and closes the devices. */
export interface DemoRig {
  rig: Rig;
  devices: NvmeDevice[];
  /** Namespace images created for the run (in the output folder). */
  images: string[];
  close(): Promise<void>;
}

/** Byte offsets on B: source at 0, the p2p copy's destination, the host copy's destination. */
export function copyLayout(size: number): { p2pDst: number; hostDst: number; namespaceBytes: number } {
  const slot = Math.ceil(size / MiB) * MiB;
  return { p2pDst: slot, hostDst: 2 * slot, namespaceBytes: 3 * slot + 16 * MiB };
}

/** Creates the devices (images in `o.outDir`) and starts serving them on a rig. */
export async function createDemoRig(o: ResolvedDemoOptions): Promise<DemoRig> {
  const images: string[] = [];
  const devices: NvmeDevice[] = [];
  const image = (name: string) => {
    const p = join(o.outDir, name);
    images.push(p);
    return p;
  };
  try {
    const b = await createNvme({
      serial: COPY_SERIAL,
      model: 'p2pkit NVMe B',
      cmb: { size: 16 * MiB },
      maxIoQueues: 4,
      namespaces: [{ path: image('b.img'), sizeBytes: copyLayout(o.sizeBytes).namespaceBytes }],
    });
    devices.push(b);
    if (o.provider === 'p2pkit') {
      devices.push(
        await createNvme({
          serial: PROVIDER_SERIAL,
          model: 'p2pkit NVMe A',
          cmb: { size: o.cmbBytes },
          maxIoQueues: 4,
          namespaces: [{ path: image('a.img'), sizeBytes: 64 * MiB }],
        }),
      );
    }
    const provider =
      o.provider === 'p2pkit' ? PROVIDER_ID : qemuNvme({ serial: PROVIDER_SERIAL, sizeMiB: 64, cmbMiB: o.cmbBytes / MiB, id: PROVIDER_ID });
    const rig = new Rig({
      topology: topology().rootPort('rp0', (rp) =>
        rp.switch('sw0', (sw) => {
          sw.downstream('dn0').attach(provider);
          sw.downstream('dn1').attach('nvmeB');
        }),
      ),
      devices: o.provider === 'p2pkit' ? { nvmeA: devices[1] as NvmeDevice, nvmeB: b } : { nvmeB: b },
      logger: rateLimitedLogger(consoleLogger('p2pkit')),
    });
    return {
      rig,
      devices,
      images,
      close: async () => {
        rig.close();
        for (const d of devices.reverse()) await d.close();
      },
    };
  } catch (e) {
    for (const d of devices.reverse()) await d.close().catch(() => {});
    throw e;
  }
}
