/** `p2pkit serve --topology`: a JSON description or a TypeScript module (here a scenario file), and the QEMU arguments for it. */
import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mapEndpoints } from '@p2pkit/fabric';
import { describe, expect, it } from 'vitest';
import { layoutTopology, loadTopologyFile, qemuArguments, servedIds } from '../src/serve/plan.ts';

const scenario = join(import.meta.dirname, '../../../scenarios/p2pkit-nvme-p2p.scenario.ts');

describe('serve --topology', () => {
  it('reads a JSON description', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'p2pkit-topo-'));
    const description = layoutTopology(['nvmeA', 'nvmeB'], 'switch');
    writeFileSync(join(dir, 'rig.json'), JSON.stringify(description));
    const file = await loadTopologyFile(join(dir, 'rig.json'));
    expect(file.topology).toEqual(description);
    expect(file.devices).toBeUndefined();
  });

  it("takes a scenario file's topology and device factory; QEMU's own NVMe gets a sparse image and a -drive", async () => {
    const file = await loadTopologyFile(scenario);
    expect(servedIds(file.topology)).toEqual(['nvmeA', 'nvmeB']);
    expect(typeof file.devices).toBe('function');
    const dir = mkdtempSync(join(tmpdir(), 'p2pkit-topo-'));
    // As the rig fills them in: a socket for every served endpoint.
    const served = mapEndpoints(file.topology, (ep) =>
      ep.device.kind === 'vfio-user' ? { ...ep, device: { kind: 'vfio-user', socket: join(dir, `${ep.id}.sock`) } } : ep,
    );
    const args = qemuArguments(served, '2G', dir);
    expect(args.slice(0, 6)).toEqual([
      '-machine',
      'q35,memory-backend=mem',
      '-object',
      'memory-backend-memfd,id=mem,size=2G,share=on',
      '-m',
      '2G',
    ]);
    expect(args).toContain(`file=${join(dir, 'qemuC.raw')},if=none,id=drv-qemuC,format=raw,cache=unsafe`);
    expect(existsSync(join(dir, 'qemuC.raw')) && statSync(join(dir, 'qemuC.raw')).size).toBe(128 << 20);
  });

  it('refuses a module whose default export is no topology', async () => {
    await expect(loadTopologyFile(join(import.meta.dirname, 'fixtures', 'scratch-device.ts'))).rejects.toThrow(
      /is neither a topology, \{ topology, devices \}, nor a scenario/,
    );
  });
});
