import { SharedMemory as Memfd } from '@p2pkit/native';
import type { BarMemory, BarMemoryProvider } from './bar-memory.ts';

/** memfd-backed BAR memory: QEMU mmaps the fd, so guest CPU and peer accesses bypass the server. */
export const memfdBarMemory: BarMemoryProvider = {
  create(name: string, size: number): BarMemory {
    const m = Memfd.create(`p2pkit:${name}`, size);
    return {
      fd: m.fd.fd,
      get bytes() {
        return m.bytes;
      },
      close: () => m.close(),
    };
  },
};
