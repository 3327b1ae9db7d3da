/**
 * NoLoad: a computational-storage NVMe device in the spirit of Eideticom's NoLoad — a p2pkit NVMe
 * controller with a CMB whose vendor I/O commands compress, decompress and checksum data in the CMB,
 * in host memory or in its namespace (commands.ts). It is a plain `createNvme` plus its extension
 * points: vendor commands, a vendor log page, Identify Controller vendor-specific bytes and a
 * vendor-specific PCI capability — nothing of the NVMe endpoint is copied.
 */
import { createNvme, type NvmeController, type NvmeDevice, type NvmeOptions } from '@p2pkit/nvme';
import { type EndpointInstanceOptions, vendorSpecific } from '@p2pkit/pci';
import { Format, registerNoloadCommands } from './commands.ts';
import { MAX_BYTES, type NoloadStats } from './locations.ts';

export { control, Format, NoloadOpcode, NoloadStatus, registerNoloadCommands } from './commands.ts';
export { crc32c } from './crc32c.ts';
export { MAX_BYTES, type NoloadStats, Place } from './locations.ts';

/** The vendor log page with {@link NoloadStats}. */
export const NOLOAD_LOG_PAGE = 0xc0;
/** First bytes of Identify Controller's vendor-specific area (offset 3072). */
export const NOLOAD_SIGNATURE = 'P2NOLOAD';

/** Options of {@link createNoload}: an NVMe device's, with the CMB size instead of the CMB options. */
export interface NoloadOptions extends Omit<NvmeOptions, 'cmb' | 'identifyVendorSpecific'> {
  /** CMB bytes, a power of two ≥ 2 MiB; default 64 MiB. */
  cmbSize?: number;
}

/** A NoLoad instance: an NVMe device plus what its accelerator did. */
export interface NoloadDevice extends NvmeDevice {
  readonly stats: Readonly<NoloadStats>;
}

/**
 * Identify Controller bytes 3072..: signature, version 1.0, supported functions (bit 0 compress,
 * 1 decompress, 2 CRC-32C), formats (bit n = Format n), largest input/output in bytes.
 */
function identifyBytes(): Uint8Array {
  const out = new Uint8Array(32);
  const v = new DataView(out.buffer);
  out.set(new TextEncoder().encode(NOLOAD_SIGNATURE), 0);
  v.setUint16(8, 0x0100, true);
  v.setUint16(10, 0b111, true);
  v.setUint16(12, (1 << Format.Gzip) | (1 << Format.Zlib) | (1 << Format.RawDeflate), true);
  v.setUint32(16, MAX_BYTES, true);
  return out;
}

// #region log-page
/** Log page C0h: commands per function (3 × u64), bytes in, bytes out (u64 each). */
function logPage(stats: NoloadStats): Uint8Array {
  const out = new Uint8Array(64);
  const v = new DataView(out.buffer);
  [stats.commands.compress, stats.commands.decompress, stats.commands.crc32c, stats.bytesIn, stats.bytesOut].forEach((n, i) => {
    v.setBigUint64(i * 8, BigInt(n), true);
  });
  return out;
}
// #endregion log-page

// #region options
/** The `createNvme` options of a NoLoad: a CMB, the Identify vendor bytes and the vendor capability. */
export function noloadNvmeOptions(options: NoloadOptions): NvmeOptions {
  const { cmbSize = 64 << 20, ...nvme } = options;
  return {
    model: 'p2pkit NoLoad',
    ...nvme,
    cmb: { size: cmbSize },
    identifyVendorSpecific: identifyBytes(),
    // A vendor-specific capability lets a driver find the accelerator from config space alone.
    capabilities: [vendorSpecific(new TextEncoder().encode('NOLOAD\u0001')), ...(nvme.capabilities ?? [])],
  };
}
// #endregion options

// #region install
/** Adds the NoLoad commands and log page C0h to a controller; returns the statistics they keep. */
export function installNoload(controller: NvmeController): NoloadStats {
  const stats = registerNoloadCommands(controller);
  controller.registerLogPage(NOLOAD_LOG_PAGE, () => logPage(stats));
  return stats;
}
// #endregion install

/** Creates a NoLoad device; serve it like any NVMe device (`serve()`, a testbed `Rig`). */
export async function createNoload(options: NoloadOptions, instance?: EndpointInstanceOptions): Promise<NoloadDevice> {
  const device = await createNvme(noloadNvmeOptions(options), instance);
  return Object.assign(device, { stats: installNoload(device.controller) });
}
