/** Shared set-up of the NVMe guest scenarios: p2pkit NVMe controllers on a fabric, in QEMU. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RecordingLogger, recordingLogger } from '@p2pkit/base';
import { topology } from '@p2pkit/fabric';
import { createNvme, type NvmeDevice, type NvmeOptions } from '@p2pkit/nvme';
import { type BootOptions, boot, type Guest, provision, Rig } from '@p2pkit/testbed';

export interface NvmeScenario {
  guest: Guest;
  rig: Rig;
  log: RecordingLogger;
  nvme: Map<string, NvmeDevice>;
  dir: string;
  close(): Promise<void>;
}

/** Boots the given p2pkit NVMe controllers below one switch (rp0 → sw0 → dn<i>). */
export async function bootNvmeSwitch(
  controllers: Record<string, Omit<NvmeOptions, 'namespaces'> & { namespaceMiB?: number[]; namespaceManagement?: boolean }>,
  boot_: Partial<BootOptions> = {},
): Promise<NvmeScenario> {
  const provisioned = await provision();
  const dir = mkdtempSync(join(tmpdir(), 'p2pkit-e2e-nvme-'));
  const log = recordingLogger();
  const nvme = new Map<string, NvmeDevice>();
  for (const [id, o] of Object.entries(controllers)) {
    const { namespaceMiB = [1024], namespaceManagement, ...rest } = o;
    nvme.set(
      id,
      await createNvme({
        maxIoQueues: 8,
        ...rest,
        ...(namespaceManagement ? { namespaceDirectory: dir, totalCapacityBytes: 8 * 2 ** 30 } : {}),
        namespaces: namespaceMiB.map((m, i) => ({ path: join(dir, `${id}-ns${i + 1}.img`), sizeBytes: m << 20 })),
      }),
    );
  }
  const ids = [...nvme.keys()];
  const rig = new Rig({
    topology: topology().rootPort('rp0', (rp) =>
      rp.switch('sw0', (sw) => {
        for (const [i, id] of ids.entries()) sw.downstream(`dn${i}`).attach(id);
      }),
    ),
    devices: Object.fromEntries(nvme),
    logger: log,
  });
  let guest: Guest;
  try {
    guest = await boot(rig.topology, { provisioned, waitForNvme: ids.length, ...boot_ });
  } catch (e) {
    rig.close();
    for (const n of nvme.values()) await n.close();
    throw e;
  }
  return {
    guest,
    rig,
    log,
    nvme,
    dir,
    async close() {
      await guest.shutdown();
      rig.close();
      for (const n of nvme.values()) await n.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Log lines on the device-bug channel (must stay empty in a passing scenario). */
export const deviceBugs = (log: RecordingLogger) => log.entries.filter((e) => e.channel === 'device');
