import type { EndpointHandle } from './handle.ts';

/**
 * Per-instance device state without classes: `const state = instanceState(() => ({ regs: ... }))`,
 * then `state(dev)` in any handler returns that endpoint instance's own object (created on first use).
 */
export function instanceState<S>(init: (dev: EndpointHandle) => S): (dev: EndpointHandle) => S {
  const states = new WeakMap<EndpointHandle, S>();
  return (dev) => {
    let s = states.get(dev);
    if (s === undefined) {
      s = init(dev);
      states.set(dev, s);
    }
    return s;
  };
}
