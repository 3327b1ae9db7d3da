/**
 * Limits a client cannot push the server past: message size, fds per message, DMA windows, IRQ
 * vectors — each refused with an errno reply and a `client` log line while the connection stays
 * up — and which peers may connect at all (SO_PEERCRED).
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Errno, recordingLogger } from '@p2pkit/base';
import { EventFd, openFdCount, UnixStream } from '@p2pkit/native';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IrqSetFlags as F, SocketTransport, VfioUserClient, VfioUserError, VfioUserServer } from '../src/index.ts';
import { Command, codec } from '../src/internal.ts';
import { errnoOf, type Rig, rig } from './harness.ts';
import { ScratchDevice } from './scratch-device.ts';

let r: Rig;
beforeEach(async () => {
  r = await rig();
});
afterEach(() => r.dispose());

const clientLines = (re: RegExp) => r.log.entries.filter((e) => e.channel === 'client' && re.test(e.message));

describe('message size', () => {
  it('refuses a message larger than max_data_xfer_size allows with E2BIG and keeps the connection', async () => {
    const max = r.client.serverCapabilities.max_data_xfer_size as number;
    const big = codec.encodeRegionAccess({ offset: 0n, region: 2, count: 2 * max, data: new Uint8Array(2 * max) });
    expect(await errnoOf(r.client.request(Command.REGION_WRITE, big))).toBe(Errno.E2BIG);
    expect(clientLines(/exceeds/)).toHaveLength(1);
    expect(r.client.closed).toBe(false);
    expect(await r.client.read32(7, 0)).toBe(0x10f01b36);
    // the largest allowed access still works
    await r.client.regionWrite(2, 0, new Uint8Array(max).fill(7));
    expect(r.device.bar2.bytes[max - 1]).toBe(7);
  });
});

describe('fds per message', () => {
  it('refuses a message carrying more than max_msg_fds (16) fds with EINVAL, closes them, keeps the connection', async () => {
    r.client.close();
    await r.server.sessionEnded();
    const [server, client] = UnixStream.pair(undefined, 32); // the test client may send up to 32
    r.server.serve(new SocketTransport(server));
    const c = new VfioUserClient(new SocketTransport(client));
    await c.negotiate();
    expect(c.serverCapabilities.max_msg_fds).toBe(16);
    const evs = Array.from({ length: 20 }, () => EventFd.create());
    const before = openFdCount();
    const setIrqs = codec.encodeSetIrqs({ flags: F.DATA_EVENTFD | F.ACTION_TRIGGER, index: 2, start: 0, count: 20 });
    expect(
      await errnoOf(
        c.request(
          Command.DEVICE_SET_IRQS,
          setIrqs,
          evs.map((e) => e.fd),
        ),
      ),
    ).toBe(Errno.EINVAL);
    expect(openFdCount()).toBe(before); // the 16 that arrived were closed, the kernel dropped the rest
    expect(clientLines(/fds/)).toHaveLength(1);
    expect(await c.read32(7, 0)).toBe(0x10f01b36);
    expect(r.server.session?.irqs.isEnabled(2)).toBe(false);
    for (const e of evs) e.close();
    c.close();
  });
});

describe('DMA windows', () => {
  it('advertises max_dma_maps (default 65535, as QEMU) and enforces the same number', async () => {
    expect(r.client.serverCapabilities.max_dma_maps).toBe(65535);
    expect(r.server.session?.windows.maxWindows).toBe(65535);
  });

  it('refuses the map beyond max_dma_maps with ENOSPC (type1: dma_avail exhausted) and a client line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'p2pkit-limits-'));
    const log = recordingLogger();
    const device = new ScratchDevice();
    const server = VfioUserServer.listen(join(dir, 's.sock'), device, { logger: log, maxDmaMaps: 4 });
    const c = await VfioUserClient.connect(server.path as string);
    expect(c.serverCapabilities.max_dma_maps).toBe(4);
    for (let i = 0n; i < 4n; i++) await c.dmaMap({ address: 0x10000n * (i + 1n), size: 0x1000n, flags: 3 });
    expect(await errnoOf(c.dmaMap({ address: 0x100000n, size: 0x1000n, flags: 3 }))).toBe(Errno.ENOSPC);
    expect(log.entries.filter((e) => e.channel === 'client' && /too many DMA windows/.test(e.message))).toHaveLength(1);
    await c.dmaUnmap({ address: 0x10000n, size: 0x1000n });
    await c.dmaMap({ address: 0x100000n, size: 0x1000n, flags: 3 });
    c.close();
    server.close();
    device.close();
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('IRQ vectors', () => {
  it('refuses SET_IRQS beyond an index’s vectors (also with u32 wrap-around) with EINVAL, closing the fds', async () => {
    const ev = EventFd.create();
    const before = openFdCount();
    const bad = [
      { index: 2, flags: F.DATA_NONE | F.ACTION_TRIGGER, start: 3, count: 2 },
      { index: 2, flags: F.DATA_NONE | F.ACTION_TRIGGER, start: 0xffff_ffff, count: 1 },
      { index: 2, flags: F.DATA_BOOL | F.ACTION_TRIGGER, start: 0, count: 0xffff_ffff, data: new Uint8Array(8) },
      { index: 2, flags: F.DATA_EVENTFD | F.ACTION_TRIGGER, start: 4, count: 1, fds: [ev.fd] },
      { index: 9, flags: F.DATA_NONE | F.ACTION_TRIGGER, start: 0, count: 1 },
    ];
    for (const b of bad) expect(await errnoOf(r.client.setIrqs(b))).toBe(Errno.EINVAL);
    expect(openFdCount()).toBe(before);
    expect(clientLines(/SET_IRQS refused/)).toHaveLength(bad.length);
    expect(await r.client.read32(7, 0)).toBe(0x10f01b36);
    ev.close();
  });
});

describe('who may connect (SO_PEERCRED)', () => {
  let dir: string;
  let device: ScratchDevice;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'p2pkit-peer-'));
    device = new ScratchDevice();
  });
  afterEach(() => {
    device.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const uid = process.getuid?.() ?? 0;

  it('allowedUids: a peer whose uid is not listed is refused with a client line', async () => {
    const log = recordingLogger();
    using server = VfioUserServer.listen(join(dir, 's.sock'), device, { logger: log, allowedUids: [uid + 4242] });
    await expect(VfioUserClient.connect(server.path as string, { timeoutMs: 1000 })).rejects.toThrow();
    expect(log.entries.some((e) => e.channel === 'client' && new RegExp(`uid ${uid}\\b.*refused`).test(e.message))).toBe(true);
    expect(server.sessionCount).toBe(0);
  });

  it('ownerOnly: the owning uid is accepted', async () => {
    using server = VfioUserServer.listen(join(dir, 's.sock'), device, { logger: recordingLogger(), ownerOnly: true });
    const c = await VfioUserClient.connect(server.path as string);
    expect(await c.read32(7, 0)).toBe(0x10f01b36);
    c.close();
  });

  it.skipIf(uid !== 0)('ownerOnly: a client of another uid (nobody) is refused even if the socket mode lets it in', async () => {
    const log = recordingLogger();
    using server = VfioUserServer.listen(join(dir, 's.sock'), device, { logger: log, ownerOnly: true });
    chmodSync(dir, 0o755);
    chmodSync(server.path as string, 0o666);
    const script = `const s = require('node:net').connect(${JSON.stringify(server.path)});
      s.on('connect', () => {}); s.on('close', () => { process.stdout.write('closed'); process.exit(0); });
      setTimeout(() => { process.stdout.write('still open'); process.exit(0); }, 3000);`;
    // async: the server answers on this process's event loop
    const child = spawn(process.execPath, ['-e', script], { uid: 65534, gid: 65534, cwd: '/', stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    await new Promise((resolve) => child.on('exit', resolve));
    expect(out).toBe('closed');
    expect(log.entries.some((e) => e.channel === 'client' && /uid 65534\b.*refused/.test(e.message))).toBe(true);
  });
});
