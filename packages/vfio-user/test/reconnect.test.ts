/**
 * One client per device, but a client whose predecessor has already hung up must be accepted: QEMU
 * reconnects at once after a restart, and the old session's EOF may not have been read yet when the
 * new connection is accepted.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { UnixStream } from '@p2pkit/native';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryTransport, SocketTransport, VfioUserClient } from '../src/index.ts';
import { type Rig, rig } from './harness.ts';

let r: Rig;
beforeEach(async () => {
  r = await rig();
});
afterEach(() => r.dispose());

const refusals = () => r.log.entries.filter((e) => e.channel === 'client' && /second client refused/.test(e.message)).length;

describe('reconnect', () => {
  it('accepts 5,000 back-to-back clients (another process) that each close without waiting', async () => {
    r.client.close();
    await r.server.sessionEnded();
    // A separate process, as QEMU is: the old client's EOF and the new connection then race on the
    // server's event loop (in one process they never did; this refused ~1 in 5,000 before the fix).
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=source', join(import.meta.dirname, 'fixtures/reconnect-client.ts'), r.path, '5000'],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    await new Promise((resolve) => child.on('exit', resolve));
    expect(JSON.parse(out)).toEqual({ failed: 0 });
    expect(refusals()).toBe(0);
    expect(r.server.sessionCount).toBe(5001);
  }, 120_000);

  it('accepts a client whose predecessor hung up even when the new connection is handled before the old EOF', async () => {
    // Deterministic form of the race: the new connection reaches serve() in the same tick as the
    // old client's close, before the event loop has delivered that EOF to the old session.
    await r.client.regionWrite(0, 0, Buffer.from([42, 0, 0, 0, 0, 0, 0, 0]), true); // posted, then hang up
    r.client.close();
    const [server, client] = UnixStream.pair();
    const session = r.server.serve(new SocketTransport(server));
    expect(session).toBeDefined();
    expect(refusals()).toBe(0);
    expect(r.server.sessionCount).toBe(2);
    const c = new VfioUserClient(new SocketTransport(client));
    await c.negotiate();
    expect(await c.read32(0, 0)).toBe(42); // the old client's last posted write was applied first
    c.close();
  });

  it('does the same over the in-memory transport', async () => {
    r.client.close();
    await r.server.sessionEnded();
    const [a1, b1] = MemoryTransport.pair();
    r.server.serve(b1);
    const first = new VfioUserClient(a1);
    await first.negotiate();
    first.close();
    const [a2, b2] = MemoryTransport.pair();
    expect(r.server.serve(b2)).toBeDefined();
    const second = new VfioUserClient(a2);
    await second.negotiate();
    expect(refusals()).toBe(0);
    second.close();
  });

  it('still refuses a second client while the first is alive', async () => {
    await expect(VfioUserClient.connect(r.path, { timeoutMs: 500 })).rejects.toThrow();
    expect(refusals()).toBe(1);
    expect(await r.client.read32(7, 0)).toBe(0x10f01b36);
  });

  it('refuses a second client while the first has sent data it has not read yet, but is alive', async () => {
    // A live first client with a request in flight: the server must not mistake pending input for EOF.
    const pending = r.client.read32(7, 0);
    await expect(VfioUserClient.connect(r.path, { timeoutMs: 500 })).rejects.toThrow();
    expect(await pending).toBe(0x10f01b36);
    expect(refusals()).toBe(1);
  });
});
