/**
 * Child process of region-read.ts: serves either a minimal vfio-user device or a bare echo on a
 * UNIX socket, so the client and server run on different cores as with QEMU.
 * Usage: bench-server.ts <vfio-user|bare> <socket path> <reply size>
 */

import type { DeviceContext } from '@p2pkit/base';
import { UnixListener, type UnixStream } from '@p2pkit/native';
import { type IrqInfo, type RegionInfo, type VfioUserDevice, VfioUserServer } from '@p2pkit/vfio-user';

const [mode, path, replySizeArg] = process.argv.slice(2) as [string, string, string];

class RegisterFile implements VfioUserDevice {
  #regs = Buffer.alloc(4096);
  regions(): RegionInfo[] {
    return Array.from({ length: 9 }, (_, index) =>
      index === 0 || index === 7 ? { index, size: 4096n, flags: 3 } : { index, size: 0n, flags: 0 },
    );
  }
  irqs(): IrqInfo[] {
    return Array.from({ length: 5 }, (_, index) => ({ index, count: 0, flags: 1 }));
  }
  regionRead(_i: number, offset: bigint, size: number): Uint8Array {
    return this.#regs.subarray(Number(offset), Number(offset) + size);
  }
  regionWrite(_i: number, offset: bigint, data: Uint8Array): void {
    this.#regs.set(data, Number(offset));
  }
  reset(): void {}
  attach(_ctx: DeviceContext): void {}
  detach(): void {}
}

if (mode === 'vfio-user') {
  VfioUserServer.listen(path, new RegisterFile());
} else {
  const requestSize = 32;
  const reply = Buffer.alloc(Number(replySizeArg));
  const listener = UnixListener.listen(path);
  listener.onConnection((s: UnixStream) => {
    let have = 0;
    s.start(() => {
      for (;;) {
        const c = s.read(requestSize - have);
        if (!c) return;
        if (!c.data.length) return s.close();
        have += c.data.length;
        if (have === requestSize) {
          have = 0;
          s.write(reply);
        }
      }
    });
  });
}
process.stdout.write('ready\n');
process.on('SIGTERM', () => process.exit(0));
