/**
 * @p2pkit/native — the libc layer (through koffi): UNIX sockets with SCM_RIGHTS, mmap with
 * guarded zero-copy views, memfd, eventfd and event-loop readiness for raw fds.
 */
export { NativeError } from './errors.ts';
export { OwnedFd, closeFd, dupFd, openFdCount } from './fd.ts';
export { watchFd, type FdWatcher, type FdEvents } from './fd-watcher.ts';
export { MappedRegion, type Protection } from './mmap.ts';
export { type FileStat, fileStat } from './fstat.ts';
export { SharedMemory, punchHole } from './memfd.ts';
export { EventFd, signalEventFd } from './eventfd.ts';
export { UnixStream, type PeerCredentials, type ReceivedChunk } from './unix-stream.ts';
export { UnixListener } from './unix-listener.ts';
export { ControlTruncatedError, MAX_FDS_PER_MESSAGE } from './scm-rights.ts';
