import { SharedMemory as Memfd } from '@p2pkit/native';
import type { SharedMemory, SharedMemoryProvider } from './shared-memory.ts';

/** memfd-backed BAR memory: QEMU mmaps the fd, so guest CPU and peer accesses bypass the server. */
export const memfdSharedMemory: SharedMemoryProvider = {
  create(name: string, size: number): SharedMemory {
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
