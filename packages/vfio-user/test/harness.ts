import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RecordingLogger, recordingLogger } from '@p2pkit/base';
import { SharedMemory } from '@p2pkit/native';
import { VfioUserClient, VfioUserError, VfioUserServer } from '../src/index.ts';
import type { Message } from '../src/internal.ts';
import { ScratchDevice } from './scratch-device.ts';

export const RAM_BASE = 0x1000_0000n;
export const RAM_SIZE = 16 << 20;

export interface Rig {
  dir: string;
  path: string;
  device: ScratchDevice;
  server: VfioUserServer;
  log: RecordingLogger;
  ram: SharedMemory;
  client: VfioUserClient;
  received: Message[];
  connect(): Promise<VfioUserClient>;
  dispose(): void;
}

/** A server on a real UNIX socket, a memfd as guest RAM, and a connected TS client. */
export async function rig(): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'p2pkit-vu-'));
  const path = join(dir, 'dev.sock');
  const device = new ScratchDevice();
  const log = recordingLogger();
  const server = VfioUserServer.listen(path, device, { logger: log, dmaTimeoutMs: 2000 });
  const ram = SharedMemory.create('guest-ram', RAM_SIZE);
  const received: Message[] = [];
  const connect = () => VfioUserClient.connect(path, { timeoutMs: 2000, onReceive: (m) => received.push(m) });
  const client = await connect();
  return {
    dir,
    path,
    device,
    server,
    log,
    ram,
    client,
    received,
    connect,
    dispose() {
      client.close();
      server.close();
      ram.close();
      device.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const until = async (cond: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
};

/** The errno of the error reply `p` rejects with; throws when it succeeds or fails otherwise. */
export async function errnoOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (e) {
    if (e instanceof VfioUserError) return e.errno;
    throw e;
  }
  throw new Error('expected an error reply');
}
