/**
 * @p2pkit/native — the libc layer (through koffi): UNIX sockets with SCM_RIGHTS, mmap with
 * guarded zero-copy views, memfd, eventfd, vectored file I/O (preadv/pwritev), event-loop
 * readiness for raw fds and thread CPU affinity.
 */
export { setThreadAffinity, threadAffinity } from './affinity.ts';
export { NativeError } from './errors.ts';
export { EventFd, signalEventFd } from './eventfd.ts';
export { closeFd, dupFd, OwnedFd, openFdCount } from './fd.ts';
export { type FdEvents, type FdWatcher, watchFd } from './fd-watcher.ts';
export { type FileStat, fileStat } from './fstat.ts';
export { punchHole, SharedMemory } from './memfd.ts';
export { MappedRegion, type Protection } from './mmap.ts';
export { ControlTruncatedError, MAX_FDS_PER_MESSAGE } from './scm-rights.ts';
export { UnixListener } from './unix-listener.ts';
export { type PeerCredentials, type ReceivedChunk, UnixStream } from './unix-stream.ts';
export { readVectored, writeVectored } from './vectored-io.ts';
