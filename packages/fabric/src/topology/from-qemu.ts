/**
 * Adapter from the QEMU-oriented plain topology that `@p2pkit/testbed` builds
 * (`{ rootBus, rootPorts: [{ id, child?: switch | device }] }`) to a fabric description.
 * The shapes are declared structurally here so the fabric does not depend on the testbed.
 *
 * Device ids follow the testbed's rule: the device's own `id`, else `dev<N>` with N its position in
 * root-bus, then root-port, then downstream-port order.
 */
import { type TopologyOptions, topology } from './builder.ts';
import type { EndpointDescription, TopologyDescription } from './description.ts';

/** Any device of the plain topology: only its optional id matters here. */
export interface PlainDevice {
  readonly kind: string;
  readonly id?: string;
}

export interface PlainSwitch {
  readonly kind: 'switch';
  readonly id: string;
  readonly downstream: readonly { readonly id: string; readonly device?: PlainDevice }[];
}

export interface PlainTopology {
  readonly rootBus: readonly PlainDevice[];
  readonly rootPorts: readonly { readonly id: string; readonly child?: PlainSwitch | PlainDevice }[];
}

/** Per-device extras (MPS, MRRS, link) keyed by final device id. */
export type EndpointExtras = Record<string, Partial<Omit<EndpointDescription, 'kind' | 'id'>>>;

/** Converts a plain QEMU topology into a fabric description. */
export function fromQemuTopology(plain: PlainTopology, options: TopologyOptions & { endpoints?: EndpointExtras } = {}): TopologyDescription {
  const order: PlainDevice[] = [...plain.rootBus];
  for (const rp of plain.rootPorts) {
    if (!rp.child) continue;
    if (rp.child.kind === 'switch') {
      for (const dn of (rp.child as PlainSwitch).downstream) if (dn.device) order.push(dn.device);
    } else {
      order.push(rp.child);
    }
  }
  const idOf = (d: PlainDevice) => {
    const id = d.id ?? `dev${order.indexOf(d)}`;
    return { id, ...options.endpoints?.[id] };
  };
  const b = topology(options);
  for (const d of plain.rootBus) b.attach(idOf(d));
  for (const rp of plain.rootPorts) {
    const child = rp.child;
    b.rootPort(rp.id, (port) => {
      if (!child) return;
      if (child.kind === 'switch') {
        const sw = child as PlainSwitch;
        port.switch(sw.id, (s) => {
          for (const dn of sw.downstream) {
            const p = s.downstream(dn.id);
            if (dn.device) p.attach(idOf(dn.device));
          }
        });
      } else port.attach(idOf(child));
    });
  }
  return b.build();
}
