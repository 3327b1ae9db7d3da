import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IrqIndex, recordingLogger } from '@p2pkit/base';
import { closeFd, EventFd, MappedRegion, SharedMemory } from '@p2pkit/native';
import { IrqSetFlags, MemoryTransport, RegionIndex, VfioUserClient, VfioUserServer } from '@p2pkit/vfio-user';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createNvme } from '../src/index.ts';

const RAM = 0x1000_0000n;
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'nvme-ep-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function serve(nvme: Awaited<ReturnType<typeof createNvme>>) {
  const log = recordingLogger();
  const server = new VfioUserServer(nvme.endpoint, { logger: log });
  const [a, b] = MemoryTransport.pair();
  server.serve(b);
  const client = new VfioUserClient(a);
  await client.negotiate();
  return { client, log, server };
}

describe('NVMe endpoint over vfio-user', () => {
  it('is an NVMe-class function with registers in BAR0, an mmappable CMB in BAR2, and answers Identify through MSI-X', async () => {
    const nvme = await createNvme({
      serial: 'EP0001',
      namespaces: [{ path: join(dir, 'ns1.img'), sizeBytes: 16 << 20 }],
      cmb: { size: 4 << 20 },
      maxIoQueues: 4,
    });
    const { client, log } = await serve(nvme);
    expect(await client.read32(RegionIndex.CONFIG, 0)).toBe(0x00f41b36);
    expect((await client.read32(RegionIndex.CONFIG, 8)) >>> 8).toBe(0x010802);
    expect(await client.read32(RegionIndex.CONFIG, 0x18)).toBe(0xc); // BAR2: 64-bit prefetchable
    const bar2 = await client.regionInfo(2);
    expect(bar2.size).toBe(4n << 20n);
    expect(bar2.flags & 4).toBe(4); // MMAP
    const cmbMap = MappedRegion.map(bar2.fd as number, 0, 4096);
    closeFd(bar2.fd as number);
    cmbMap.view(0, 4).set([1, 2, 3, 4]);
    expect([...nvme.endpoint.handle.memory(2).subarray(0, 4)]).toEqual([1, 2, 3, 4]);
    cmbMap.unmap();

    const cap = (await client.regionRead(RegionIndex.BAR0, 0, 8)).readBigUInt64LE(0);
    expect(Number(cap & 0xffffn) + 1).toBeGreaterThanOrEqual(64); // MQES
    expect((cap >> 57n) & 1n).toBe(1n); // CMBS
    await client.write32(RegionIndex.BAR0, 0x50, 1); // CMBMSC.CRE
    const cmbsz = await client.read32(RegionIndex.BAR0, 0x3c);
    expect(cmbsz & 0x18).toBe(0x18); // RDS + WDS → Linux publishes p2pmem

    // Bring up as the Linux driver does: BME, MSI-X vector 0, admin queues in guest RAM, CC.EN.
    using ram = SharedMemory.create('ram', 1 << 20);
    using irq = EventFd.create();
    await client.dmaMap({ address: RAM, size: BigInt(ram.size), flags: 3, fd: ram.fd.fd });
    await client.setIrqs({
      index: IrqIndex.MSIX,
      flags: IrqSetFlags.DATA_EVENTFD | IrqSetFlags.ACTION_TRIGGER,
      start: 0,
      count: 1,
      fds: [irq.fd],
    });
    await client.write32(RegionIndex.CONFIG, 4, 0x6);
    const asq = RAM;
    const acq = RAM + 0x1000n;
    const idBuf = RAM + 0x2000n;
    await client.write32(RegionIndex.BAR0, 0x24, (15 << 16) | 15);
    await client.regionWrite(RegionIndex.BAR0, 0x28, le64(asq));
    await client.regionWrite(RegionIndex.BAR0, 0x30, le64(acq));
    await client.write32(RegionIndex.BAR0, 0x14, 1 | (6 << 16) | (4 << 20));
    for (let i = 0; i < 200 && !((await client.read32(RegionIndex.BAR0, 0x1c)) & 1); i++) await sleep(2);
    expect((await client.read32(RegionIndex.BAR0, 0x1c)) & 1).toBe(1);
    const sqe = Buffer.alloc(64);
    sqe[0] = 0x06; // Identify
    sqe.writeUInt16LE(7, 2); // CID
    sqe.writeBigUInt64LE(idBuf, 24); // PRP1
    sqe.writeUInt32LE(1, 40); // CNS 1: controller
    ram.bytes.set(sqe, 0);
    await client.write32(RegionIndex.BAR0, 0x1000, 1); // SQ0 tail doorbell
    for (let i = 0; i < 200 && irq.drain() === 0n; i++) await sleep(2);
    const cqe = Buffer.from(ram.bytes.subarray(0x1000, 0x1010));
    expect(cqe.readUInt16LE(12)).toBe(7); // CID
    expect(cqe.readUInt16LE(14) >> 1).toBe(0); // status success
    expect(
      Buffer.from(ram.bytes.subarray(0x2000 + 4, 0x2000 + 24))
        .toString()
        .trim(),
    ).toBe('EP0001');
    expect(log.entries.filter((e) => e.channel === 'device')).toEqual([]);
    client.close();
    await nvme.close();
  });

  it('keeps PMR contents across a server restart (file-backed BAR4)', async () => {
    const pmrPath = join(dir, 'pmr.bin');
    const first = await createNvme({
      serial: 'PMR1',
      namespaces: [{ path: join(dir, 'a.img'), sizeBytes: 1 << 20 }],
      pmr: { path: pmrPath, size: 1 << 20 },
    });
    const { client } = await serve(first);
    const cap = (await client.regionRead(RegionIndex.BAR0, 0, 8)).readBigUInt64LE(0);
    expect((cap >> 56n) & 1n).toBe(1n); // PMRS
    await client.write32(RegionIndex.BAR0, 0xe04, 1); // PMRCTL.EN
    const bar4 = await client.regionInfo(4);
    const map = MappedRegion.map(bar4.fd as number, 0, 4096);
    closeFd(bar4.fd as number);
    map.view(100, 6).set(Buffer.from('durabl'));
    map.unmap();
    await client.write32(RegionIndex.BAR0, 0xe04, 0); // disable: flushes to the file
    client.close();
    await first.close();

    const second = await createNvme({
      serial: 'PMR1',
      namespaces: [{ path: join(dir, 'a.img'), sizeBytes: 1 << 20 }],
      pmr: { path: pmrPath, size: 1 << 20 },
    });
    expect(Buffer.from(second.endpoint.handle.memory(4).subarray(100, 106)).toString()).toBe('durabl');
    await second.close();
  });

  it('refuses a CMB smaller than 2 MiB or not a power of two', async () => {
    await expect(createNvme({ serial: 'X', cmb: { size: 1 << 20 } })).rejects.toThrow(/power of two ≥ 2 MiB/);
    await expect(createNvme({ serial: 'X', cmb: { size: 3 << 20 } })).rejects.toThrow(/power of two/);
  });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
function le64(v: bigint) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
}
