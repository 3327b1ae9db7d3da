/**
 * Translate a topology description (`@p2pkit/fabric`'s `topology()`) into QEMU `-device`/`-drive`
 * arguments. Ids are taken as they are: the description already names every endpoint.
 *
 * Every port gets a unique `chassis` number (root ports and downstream ports share one counter,
 * depth-first) and a `slot` that is its index among its siblings plus 1, so (chassis, slot) pairs
 * never repeat. Several endpoints on one port become functions `addr=0.N` of one multi-function
 * device. A root port's `link` becomes `x-speed`/`x-width`.
 */
import { join } from 'node:path';
import {
  type DownstreamPortDescription,
  type EndpointDescription,
  type LinkSpec,
  type QemuNvmeDescription,
  type RootPortDescription,
  Topology,
  type TopologyDescription,
} from '@p2pkit/fabric';

/** An endpoint with its QEMU bus and function address, and for QEMU NVMe its backing image. */
export interface PlacedDevice {
  /** The endpoint as described; its `id` is the QEMU device id. */
  readonly endpoint: EndpointDescription;
  readonly bus: string;
  /** `0.N` for a function of a multi-function device; absent for a single-function device. */
  readonly addr?: string;
  /** Raw image path (QEMU NVMe only). */
  readonly image?: string;
  /** True if the testbed must create (and later delete) the image. */
  readonly ownsImage: boolean;
}

/** The argv fragment and the devices it places. */
export interface TopologyPlan {
  readonly args: readonly string[];
  readonly devices: readonly PlacedDevice[];
}

const ID_RE = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
/** QEMU's `PCIELinkSpeed` values per generation; QEMU has no Gen7. */
const QEMU_SPEED: Readonly<Record<number, string>> = { 1: '2_5', 2: '5', 3: '8', 4: '16', 5: '32', 6: '64' };

/** Build the QEMU arguments for `description`; images the testbed must create are placed in `diskDir`. */
export function planTopology(description: TopologyDescription, diskDir: string): TopologyPlan {
  new Topology(description); // the fabric model's checks: unique ids, payload sizes, functions per device
  const args: string[] = [];
  const placed: PlacedDevice[] = [];
  const serials = new Set<string>();
  let chassis = 0;

  const place = (endpoint: EndpointDescription, bus: string, addr?: string, multifunction = false): void => {
    const id = qemuId(endpoint.id, 'endpoint');
    const at = { ...(addr ? { addr } : {}), ...(multifunction ? { multifunction: true } : {}) };
    const device = endpoint.device;
    if (device.kind === 'vfio-user') {
      if (!device.socket)
        throw new Error(`endpoint ${id} has no vfio-user socket: serve it first (testbed Rig), or give vfioUser({ socket })`);
      args.push('-device', JSON.stringify({ driver: 'vfio-user-pci', id, socket: { path: device.socket, type: 'unix' }, bus, ...at }));
      placed.push({ endpoint, bus, ...(addr ? { addr } : {}), ownsImage: false });
      return;
    }
    if (serials.has(device.serial)) throw new Error(`duplicate NVMe serial ${device.serial}`);
    serials.add(device.serial);
    const image = device.image ?? join(diskDir, `${id}.raw`);
    args.push(...nvmeArgs(device, id, bus, image, at));
    placed.push({ endpoint, bus, ...(addr ? { addr } : {}), image, ownsImage: device.image === undefined });
  };

  /** What sits below a root port or downstream port `port` (already on the command line). */
  const below = (port: RootPortDescription | DownstreamPortDescription): void => {
    if (port.switch) {
      const sw = port.switch;
      args.push('-device', `x3130-upstream,id=${qemuId(sw.id, 'switch')},bus=${port.id}`);
      sw.downstream.forEach((dn, index) => {
        chassis += 1;
        args.push('-device', `xio3130-downstream,id=${qemuId(dn.id, 'downstream port')},bus=${sw.id},chassis=${chassis},slot=${index + 1}`);
        below(dn);
      });
      return;
    }
    const functions = port.endpoints;
    if (functions.length === 1 && functions[0]) place(functions[0], port.id);
    else for (const [fn, ep] of functions.entries()) place(ep, port.id, `0.${fn}`, fn === 0);
  };

  for (const ep of description.endpoints) place(ep, 'pcie.0');
  description.rootPorts.forEach((rp, index) => {
    chassis += 1;
    args.push('-device', `pcie-root-port,id=${qemuId(rp.id, 'root port')},chassis=${chassis},slot=${index + 1},bus=pcie.0${linkProps(rp)}`);
    below(rp);
  });
  return { args, devices: placed };
}

function qemuId(id: string, what: string): string {
  if (!ID_RE.test(id)) throw new Error(`invalid ${what} id ${JSON.stringify(id)} for QEMU (letters, digits, _ . -; start with a letter)`);
  return id;
}

/** `,x-speed=…,x-width=…` for what the root port's link says (nothing: QEMU's defaults). */
function linkProps(rp: RootPortDescription): string {
  const link: LinkSpec = rp.link ?? {};
  let out = '';
  if (link.gen !== undefined) {
    const speed = QEMU_SPEED[link.gen];
    if (!speed) throw new Error(`root port ${rp.id}: QEMU's pcie-root-port has no Gen${link.gen} speed (x-speed up to 64 GT/s, Gen6)`);
    out += `,x-speed=${speed}`;
  }
  if (link.width !== undefined) out += `,x-width=${link.width}`;
  return out;
}

function nvmeArgs(
  dev: QemuNvmeDescription,
  id: string,
  bus: string,
  image: string,
  at: { addr?: string; multifunction?: boolean },
): string[] {
  if (image.includes(',')) throw new Error(`NVMe image path must not contain ',': ${image}`);
  const drive = `drv-${id}`;
  const props = ['nvme', `id=${id}`, `serial=${dev.serial}`, `drive=${drive}`, `bus=${bus}`];
  if (at.addr) props.push(`addr=${at.addr}`);
  if (at.multifunction) props.push('multifunction=on');
  if (dev.cmbMiB > 0) props.push(`cmb_size_mb=${dev.cmbMiB}`);
  return ['-drive', `file=${image},if=none,id=${drive},format=raw,cache=unsafe`, '-device', props.join(',')];
}
