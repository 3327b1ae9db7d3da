import { koffi } from './libc.ts';

export interface FdEvents {
  readable: boolean;
  writable: boolean;
  disconnect: boolean;
}

/** A libuv poll handle on a raw fd: callbacks run on Node's event loop, with no thread and no busy loop. */
export interface FdWatcher {
  /** Change which events are watched. */
  update(events: { readable?: boolean; writable?: boolean }): void;
  close(): void;
}

/**
 * Watch `fd` for readiness. koffi 3.3.4 calls back with `(status, events)` although its typings
 * declare `(events)`; accept both shapes.
 */
export function watchFd(
  fd: number,
  events: { readable?: boolean; writable?: boolean },
  onEvent: (ev: FdEvents, status: number) => void,
): FdWatcher {
  let closed = false;
  const callback = (...args: unknown[]) => {
    if (closed) return;
    const [a, b] = args;
    const status = typeof a === 'number' ? a : 0;
    const ev = (typeof a === 'number' ? b : a) as FdEvents | undefined;
    onEvent(ev ?? { readable: false, writable: false, disconnect: true }, status);
  };
  const opts = (e: { readable?: boolean; writable?: boolean }) => ({
    readable: !!e.readable,
    writable: !!e.writable,
    disconnect: true,
  });
  const handle = koffi.node.poll(fd, opts(events), callback as (ev: FdEvents) => void);
  let readable = !!events.readable;
  let writable = !!events.writable;
  return {
    update(e) {
      // A stream updates after every write; restarting the poll with the same events would cost a
      // native call (and an epoll_ctl) per message for nothing.
      if (closed || (!!e.readable === readable && !!e.writable === writable)) return;
      readable = !!e.readable;
      writable = !!e.writable;
      handle.start(opts(e), callback as (ev: FdEvents) => void);
    },
    close() {
      if (closed) return;
      closed = true;
      handle.close();
    },
  };
}
