/**
 * Plain-data description of a PCIe hierarchy: what `topology()` builds and what `Topology` reads.
 * Everything here is JSON-serialisable so a description can be logged, stored in a trace header,
 * or translated into a QEMU command line by another package.
 */
import type { AcsSettings } from './acs.ts';
import type { LinkSpec } from './link.ts';

/** Max_Payload_Size / Max_Read_Request_Size encodings allow 128..4096 bytes (PCIe Base 6.0 §7.5.3.4). */
export type PayloadSize = 128 | 256 | 512 | 1024 | 2048 | 4096;

/** A PCIe function that can master DMA and own BARs. */
export interface EndpointDescription {
  kind: 'endpoint';
  id: string;
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
  /** The port side of the link below it. */
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
  /** Endpoints on the root bus itself (no link of their own). */
  endpoints: EndpointDescription[];
  defaults: TopologyDefaults;
}
