/**
 * How QEMU realises an endpoint of a topology: helpers that build the `device` part of an endpoint
 * for `attach()`, and the BARs of QEMU-served devices the fabric must know about.
 *
 * ```ts
 * topology().rootPort('rp0', (rp) => rp.switch('sw0', (sw) => {
 *   sw.downstream('dn0').attach('nvmeA');                                  // a p2pkit device (vfio-user)
 *   sw.downstream('dn1').attach(qemuNvme({ serial: 'ref0', cmbMiB: 16 })); // QEMU's own NVMe
 * }));
 * ```
 */
import type { BarRegistration } from '../routing/address-map.ts';
import type { EndpointDescription, EndpointDevice, QemuNvmeDescription } from './description.ts';

/** What `attach` accepts besides a plain id: an endpoint with an optional id (see `topology()`). */
export type EndpointInput = { id?: string } & Partial<Omit<EndpointDescription, 'kind' | 'id'>>;

/** Options of {@link qemuNvme}. */
export interface QemuNvmeOptions {
  /** Controller serial: 1–20 characters of `[A-Za-z0-9_-]`, unique in the topology. */
  serial: string;
  /** Topology (and QEMU) id; `dev<N>` when omitted. */
  id?: string;
  /** Namespace size in MiB (default 64). */
  sizeMiB?: number;
  /** CMB size in MiB (default 0: none). */
  cmbMiB?: number;
  /** Existing raw image (default: a sparse file the testbed creates and deletes). */
  image?: string;
}

/** QEMU's reference NVMe controller as an endpoint; its CMB BAR is declared to the fabric by itself. */
export function qemuNvme(options: QemuNvmeOptions): EndpointInput {
  if (!/^[A-Za-z0-9_-]{1,20}$/.test(options.serial)) {
    throw new TypeError(`qemuNvme: serial must be 1-20 characters of [A-Za-z0-9_-], got ${JSON.stringify(options.serial)}`);
  }
  const sizeMiB = options.sizeMiB ?? 64;
  const cmbMiB = options.cmbMiB ?? 0;
  if (!Number.isInteger(sizeMiB) || sizeMiB < 1) throw new RangeError('qemuNvme: sizeMiB must be a positive integer');
  if (!Number.isInteger(cmbMiB) || cmbMiB < 0) throw new RangeError('qemuNvme: cmbMiB must be a non-negative integer');
  const device: QemuNvmeDescription = { kind: 'qemu-nvme', serial: options.serial, sizeMiB, cmbMiB };
  if (options.image !== undefined) device.image = options.image;
  return options.id === undefined ? { device } : { id: options.id, device };
}

/** Options of {@link vfioUser}. */
export interface VfioUserOptions {
  /** The UNIX socket a vfio-user server (started elsewhere) listens on. */
  socket: string;
  /** Topology (and QEMU) id; `dev<N>` when omitted. */
  id?: string;
}

/**
 * A vfio-user device whose server is started outside the testbed's `Rig`. A plain id
 * (`attach('nvmeA')`) is the usual way to place a p2pkit device: the `Rig` serves it and fills in
 * the socket.
 */
export function vfioUser(options: VfioUserOptions): EndpointInput {
  if (!options.socket) throw new TypeError('vfioUser: socket path is required');
  const device: EndpointDevice = { kind: 'vfio-user', socket: options.socket };
  return options.id === undefined ? { device } : { id: options.id, device };
}

const MIB = 1 << 20;
/** QEMU's nvme puts the CMB in BAR2, 64-bit prefetchable (hw/nvme: NVME_CMB_BIR). */
const QEMU_NVME_CMB_BAR = 2;

/**
 * The memory BARs of a device that QEMU serves itself and that peers may target, or undefined when
 * it has none. The fabric registers them without backing, so transfers to them are routed as peer
 * traffic through QEMU (DMA_READ/DMA_WRITE) instead of being taken for host memory; their addresses
 * are learned later (`fabric.setBarAddress`, e.g. from the guest's sysfs `resource` file).
 */
export function qemuServedBars(device: EndpointDevice): BarRegistration[] | undefined {
  if (device.kind !== 'qemu-nvme' || device.cmbMiB === 0) return undefined;
  // A BAR is a power of two; a CMB size that is not one ends up in a BAR rounded up.
  return [{ index: QEMU_NVME_CMB_BAR, size: 2 ** Math.ceil(Math.log2(device.cmbMiB * MIB)), prefetchable: true }];
}
