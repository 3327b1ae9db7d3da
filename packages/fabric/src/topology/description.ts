/**
 * Plain-data description of a PCIe hierarchy: what `topology()` builds, what `Topology` (the fabric
 * model) reads and what `@p2pkit/testbed` turns into a QEMU command line — one description for both.
 * Everything here is JSON-serialisable so a description can be logged, stored in a trace header,
 * or handed to another process.
 */
import type { AcsSettings } from './acs.ts';
import type { LinkSpec } from './link.ts';

/** Max_Payload_Size / Max_Read_Request_Size encodings allow 128..4096 bytes (PCIe Base 6.0 §7.5.3.4). */
export type PayloadSize = 128 | 256 | 512 | 1024 | 2048 | 4096;

/**
 * A p2pkit device, served from a Node process over vfio-user (QEMU `vfio-user-pci`). `socket` is the
 * server's UNIX socket; it is filled in when the device is served (testbed `Rig`), or given up front
 * for a server started elsewhere.
 */
export interface VfioUserDeviceDescription {
  kind: 'vfio-user';
  socket?: string;
}

/** QEMU's own reference NVMe controller (QEMU `nvme`) with one namespace on a raw image. */
export interface QemuNvmeDescription {
  kind: 'qemu-nvme';
  /** Controller serial number; guest scripts find the device by it (`nvme_ns_by_serial`). */
  serial: string;
  /** Namespace size in MiB when the testbed creates the image. */
  sizeMiB: number;
  /** Controller Memory Buffer (BAR2) in MiB, 0 for none. A CMB ≥ 2 MiB is published as p2pmem. */
  cmbMiB: number;
  /** Existing raw image to use instead of a fresh sparse file (opened read-write). */
  image?: string;
}

/** How QEMU realises an endpoint. */
export type EndpointDevice = VfioUserDeviceDescription | QemuNvmeDescription;

/**
 * A PCIe function that can master DMA and own BARs. Several endpoints on one port are the
 * functions of one multi-function device (function numbers in order, at most 8).
 */
export interface EndpointDescription {
  kind: 'endpoint';
  id: string;
  /** How QEMU realises it. */
  device: EndpointDevice;
  /** The device side of its link (trained against the port's). */
  link?: LinkSpec;
  /** Max_Payload_Size programmed in the function (defaults to the topology default). */
  mps?: PayloadSize;
  /** Max_Read_Request_Size programmed in the function. */
  mrrs?: PayloadSize;
  /** Free-form label for tables (e.g. `nvme (CMB 64 MiB)`). */
  label?: string;
}

/** Fields shared by root ports and switch downstream ports (downstream-facing ports). */
interface DownstreamFacingPort {
  id: string;
  /**
   * The port side of the link below it. On a root port QEMU gets it too (`x-speed`, `x-width`);
   * QEMU's switch downstream ports have no such properties, so there only the model uses it.
   */
  link?: LinkSpec;
  acs?: Partial<AcsSettings>;
  mps?: PayloadSize;
  /** Either a switch or one device (several endpoints here are functions of one multi-function device). */
  switch?: SwitchDescription;
  endpoints: EndpointDescription[];
}

/** A root port of the root complex (QEMU `pcie-root-port`). */
export interface RootPortDescription extends DownstreamFacingPort {
  kind: 'root-port';
}

/** A switch downstream port (QEMU `xio3130-downstream`). */
export interface DownstreamPortDescription extends DownstreamFacingPort {
  kind: 'downstream-port';
}

/** A PCIe switch (QEMU `x3130-upstream` plus its downstream ports). Its id names the upstream port. */
export interface SwitchDescription {
  kind: 'switch';
  id: string;
  /** The upstream port's side of the link to its parent port. */
  link?: LinkSpec;
  acs?: Partial<AcsSettings>;
  mps?: PayloadSize;
  downstream: DownstreamPortDescription[];
}

/** Defaults applied where a description says nothing. */
export interface TopologyDefaults {
  link: Required<LinkSpec>;
  mps: PayloadSize;
  mrrs: PayloadSize;
}

/** The root complex: host bridge, root ports and root-complex integrated endpoints (QEMU `pcie.0`). */
export interface TopologyDescription {
  kind: 'topology';
  hostBridge: {
    id: string;
    /**
     * Whether the root complex routes peer-to-peer requests between root ports (and redirected
     * requests back down). Real root complexes vary; QEMU's does.
     */
    peerToPeer: boolean;
  };
  rootPorts: RootPortDescription[];
  /** Endpoints on the root bus itself (no link of their own; QEMU `pcie.0`), each its own device. */
  endpoints: EndpointDescription[];
  defaults: TopologyDefaults;
}
