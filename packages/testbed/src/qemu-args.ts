/**
 * Translate a {@link Topology} into QEMU `-device`/`-drive` arguments.
 *
 * Every port gets a unique `chassis` number (and a `slot` that is its index among its siblings,
 * starting at 1), so (chassis, slot) pairs never repeat. Devices without an explicit id get
 * `dev0`, `dev1`, … in {@link devicesOf} order.
 */
import { join } from 'node:path';
import { type Device, devicesOf, type QemuNvmeDevice, type Topology } from './topology.ts';

/** A device with its final QEMU id and bus, and for NVMe its backing image. */
export interface PlacedDevice {
  readonly device: Device;
  readonly id: string;
  readonly bus: string;
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

/** Build the QEMU arguments for `topo`; images the testbed must create are placed in `diskDir`. */
export function planTopology(topo: Topology, diskDir: string): TopologyPlan {
  const args: string[] = [];
  const placed: PlacedDevice[] = [];
  const order = new Map<Device, number>(devicesOf(topo).map((d, i) => [d, i]));
  let chassis = 0;

  const place = (device: Device, bus: string): void => {
    const id = device.id ?? `dev${order.get(device) ?? placed.length}`;
    if (device.kind === 'vfio-user') {
      args.push('-device', JSON.stringify({ driver: 'vfio-user-pci', id, socket: { path: device.socket, type: 'unix' }, bus }));
      placed.push({ device, id, bus, ownsImage: false });
      return;
    }
    const image = device.image ?? join(diskDir, `${id}.raw`);
    args.push(...nvmeArgs(device, id, bus, image));
    placed.push({ device, id, bus, image, ownsImage: device.image === undefined });
  };

  for (const dev of topo.rootBus) place(dev, 'pcie.0');

  topo.rootPorts.forEach((rp, rpIndex) => {
    chassis += 1;
    args.push('-device', `pcie-root-port,id=${rp.id},chassis=${chassis},slot=${rpIndex + 1},bus=pcie.0`);
    const child = rp.child;
    if (!child) return;
    if (child.kind !== 'switch') {
      place(child, rp.id);
      return;
    }
    args.push('-device', `x3130-upstream,id=${child.id},bus=${rp.id}`);
    child.downstream.forEach((dn, dnIndex) => {
      chassis += 1;
      args.push('-device', `xio3130-downstream,id=${dn.id},bus=${child.id},chassis=${chassis},slot=${dnIndex + 1}`);
      if (dn.device) place(dn.device, dn.id);
    });
  });

  return { args, devices: placed };
}

function nvmeArgs(dev: QemuNvmeDevice, id: string, bus: string, image: string): string[] {
  if (image.includes(',')) throw new Error(`NVMe image path must not contain ',': ${image}`);
  const drive = `drv-${id}`;
  const props = [`nvme`, `id=${id}`, `serial=${dev.serial}`, `drive=${drive}`, `bus=${bus}`];
  if (dev.cmbMiB > 0) props.push(`cmb_size_mb=${dev.cmbMiB}`);
  return ['-drive', `file=${image},if=none,id=${drive},format=raw,cache=unsafe`, '-device', props.join(',')];
}
