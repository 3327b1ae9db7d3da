/**
 * Demo: serve the hello endpoint on a UNIX socket and drive it through the vfio-user protocol with
 * the TypeScript client (the same messages QEMU sends): read its identity, use the scratch
 * register, and let it DMA a buffer inside a memfd "guest RAM" and interrupt through MSI-X.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@p2pkit/fabric';
import { RegionIndex, VfioUserClient } from '@p2pkit/vfio-user';
import { copyThroughHello } from './drive.ts';
import { hello, Reg } from './hello.ts';

const dir = mkdtempSync(join(tmpdir(), 'p2pkit-demo-'));
const socket = join(dir, 'hello.sock');
try {
  using served = serve(hello, { socket });
  console.log(`hello endpoint served at ${socket}`);
  const client = await VfioUserClient.connect(socket);
  const id = await client.read32(RegionIndex.CONFIG, 0);
  console.log(`config space: vendor 0x${(id & 0xffff).toString(16)} device 0x${(id >>> 16).toString(16)}`);
  await client.write32(RegionIndex.BAR0, Reg.SCRATCH, 0x600dcafe);
  console.log(`scratch register reads back 0x${(await client.read32(RegionIndex.BAR0, Reg.SCRATCH)).toString(16)}`);
  const message = Buffer.from('hello from p2pkit: copied by a TypeScript DMA engine');
  const r = await copyThroughHello(client, message);
  console.log(`DMA status ${r.status}, MSI-X interrupts ${r.interrupts}, destination: "${Buffer.from(r.destination).toString()}"`);
  console.log(`server handled: ${[...(served.server.session?.stats ?? [])].map(([k, v]) => `${k}×${v}`).join(', ')}`);
  client.close();
  if (Buffer.compare(Buffer.from(r.destination), message) !== 0) process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
