/** PCI Express capability for endpoints (PCIe 6.0 §7.5.3), version 2, 0x3c bytes. */
import { CapabilityId } from '../config/registers.ts';
import type { ConfigSpace } from '../config/space.ts';
import type { Capability } from './capability.ts';

/** Register offsets inside the capability (Linux `PCI_EXP_*`). */
export const PcieReg = {
  FLAGS: 0x02,
  DEVCAP: 0x04,
  DEVCTL: 0x08,
  DEVSTA: 0x0a,
  LNKCAP: 0x0c,
  LNKCTL: 0x10,
  LNKSTA: 0x12,
  DEVCAP2: 0x24,
  DEVCTL2: 0x28,
  LNKCAP2: 0x2c,
  LNKCTL2: 0x30,
  LNKSTA2: 0x32,
} as const;

export const DevCtl = {
  CORRECTABLE_REPORTING: 1 << 0,
  NONFATAL_REPORTING: 1 << 1,
  FATAL_REPORTING: 1 << 2,
  UNSUPPORTED_REQUEST_REPORTING: 1 << 3,
  RELAXED_ORDERING: 1 << 4,
  PAYLOAD_MASK: 0x7 << 5,
  EXTENDED_TAG: 1 << 8,
  NO_SNOOP: 1 << 11,
  READ_REQUEST_MASK: 0x7 << 12,
  INITIATE_FLR: 1 << 15,
} as const;

export const DevSta = {
  CORRECTABLE: 1 << 0,
  NONFATAL: 1 << 1,
  FATAL: 1 << 2,
  UNSUPPORTED_REQUEST: 1 << 3,
  AUX_POWER: 1 << 4,
  TRANSACTIONS_PENDING: 1 << 5,
} as const;

/** Device/Port Type of an endpoint-like function (PCIe 6.0 §7.5.3.2). */
export const PortType = { ENDPOINT: 0x0, LEGACY_ENDPOINT: 0x1, RC_INTEGRATED_ENDPOINT: 0x9 } as const;

/** Link speeds in GT/s, encoded as the Supported Link Speeds vector index (PCIe 6.0 §7.5.3.18). */
export type LinkSpeed = 2.5 | 5 | 8 | 16 | 32 | 64;
const SPEED_CODE: Record<LinkSpeed, number> = { 2.5: 1, 5: 2, 8: 3, 16: 4, 32: 5, 64: 6 };
export type LinkWidth = 1 | 2 | 4 | 8 | 12 | 16 | 32;
/** Max payload / read request sizes in bytes (encoded as log2(size) - 7). */
export type TransferSize = 128 | 256 | 512 | 1024 | 2048 | 4096;

export interface PciExpressEndpointOptions {
  /** Default 'endpoint'. A root-complex integrated endpoint has no link registers. */
  type?: 'endpoint' | 'legacy-endpoint' | 'rc-integrated';
  /** Max_Payload_Size Supported (DevCap). Default 256. */
  maxPayloadSupported?: TransferSize;
  /** Initial DevCtl Max_Payload_Size. Default 128 (the reset value required by PCIe 6.0 §7.5.3.4). */
  maxPayload?: TransferSize;
  /** Initial DevCtl Max_Read_Request_Size. Default 512 (the spec's reset value). */
  maxReadRequest?: TransferSize;
  /** Max and current link speed. Default 8 GT/s (Gen3). */
  linkSpeed?: LinkSpeed;
  /** Max and negotiated link width. Default x4. */
  linkWidth?: LinkWidth;
  /** Advertise Function Level Reset (DevCap bit 28). Default false. */
  flr?: boolean;
  /** Extended Tag field supported (DevCap bit 5). Default true. */
  extendedTag?: boolean;
}

/** Runtime view of one installed PCI Express capability. */
export interface PciExpressState {
  readonly offset: number;
  /** DevCtl Max_Payload_Size in bytes as programmed by the guest. */
  readonly maxPayload: TransferSize;
  /** DevCtl Max_Read_Request_Size in bytes. */
  readonly maxReadRequest: TransferSize;
  /** Calls `listener` when the guest writes Initiate Function Level Reset (only with `flr`). */
  onFunctionLevelReset(listener: () => void): () => void;
  /** Device-side report of an error (DevSta RW1C bits). */
  setDeviceStatus(bits: number): void;
}

export interface PciExpressCapability extends Capability<PciExpressState> {
  readonly kind: 'pci-express';
}

const sizeCode = (bytes: TransferSize, what: string): number => {
  const code = Math.log2(bytes) - 7;
  if (!Number.isInteger(code) || code < 0 || code > 5) throw new RangeError(`${what}: ${bytes} is not 128..4096`);
  return code;
};
const sizeFromCode = (code: number): TransferSize => (128 << Math.min(code, 5)) as TransferSize;

function endpoint(options: PciExpressEndpointOptions = {}): PciExpressCapability {
  const type = options.type ?? 'endpoint';
  const portType =
    type === 'rc-integrated' ? PortType.RC_INTEGRATED_ENDPOINT : type === 'legacy-endpoint' ? PortType.LEGACY_ENDPOINT : PortType.ENDPOINT;
  const mpss = sizeCode(options.maxPayloadSupported ?? 256, 'maxPayloadSupported');
  const mps = sizeCode(options.maxPayload ?? 128, 'maxPayload');
  const mrrs = sizeCode(options.maxReadRequest ?? 512, 'maxReadRequest');
  if (mps > mpss) throw new RangeError('maxPayload exceeds maxPayloadSupported');
  const speed = options.linkSpeed ?? 8;
  const speedCode = SPEED_CODE[speed];
  if (speedCode === undefined) throw new RangeError(`linkSpeed ${speed} GT/s is not one of 2.5, 5, 8, 16, 32, 64`);
  const width = options.linkWidth ?? 4;
  if (![1, 2, 4, 8, 12, 16, 32].includes(width)) throw new RangeError(`linkWidth x${width} is not a PCIe width`);
  const flr = options.flr ?? false;
  const hasLink = type !== 'rc-integrated';

  return {
    kind: 'pci-express',
    id: CapabilityId.PCI_EXPRESS,
    size: 0x3c,
    install(space: ConfigSpace, offset: number): PciExpressState {
      const at = (reg: number) => offset + reg;
      // PCIe Capabilities: version 2, Device/Port Type.
      space.define({ offset: at(PcieReg.FLAGS), width: 2, value: 0x2 | (portType << 4) });
      // DevCap: MPSS, Extended Tag, Role-Based Error Reporting (must be 1, PCIe 6.0 §7.5.3.3), FLR.
      const devcap = mpss | ((options.extendedTag ?? true) ? 1 << 5 : 0) | (1 << 15) | (flr ? 1 << 28 : 0);
      space.define({ offset: at(PcieReg.DEVCAP), width: 4, value: devcap });
      // DevCtl: reset value has Relaxed Ordering and No Snoop enabled (PCIe 6.0 §7.5.3.4).
      const devctlRw =
        DevCtl.CORRECTABLE_REPORTING |
        DevCtl.NONFATAL_REPORTING |
        DevCtl.FATAL_REPORTING |
        DevCtl.UNSUPPORTED_REQUEST_REPORTING |
        DevCtl.RELAXED_ORDERING |
        DevCtl.PAYLOAD_MASK |
        ((options.extendedTag ?? true) ? DevCtl.EXTENDED_TAG : 0) |
        DevCtl.NO_SNOOP |
        DevCtl.READ_REQUEST_MASK;
      const devctl = DevCtl.RELAXED_ORDERING | DevCtl.NO_SNOOP | (mps << 5) | (mrrs << 12);
      space.define({ offset: at(PcieReg.DEVCTL), width: 2, value: devctl, rw: devctlRw });
      space.define({
        offset: at(PcieReg.DEVSTA),
        width: 2,
        rw1c: DevSta.CORRECTABLE | DevSta.NONFATAL | DevSta.FATAL | DevSta.UNSUPPORTED_REQUEST,
        sticky: 0,
      });
      if (hasLink) {
        // LinkCap: Max Link Speed, Maximum Link Width, L0s/L1 not supported, port 0.
        space.define({ offset: at(PcieReg.LNKCAP), width: 4, value: speedCode | (width << 4) });
        // LinkCtl: ASPM control, RCB, Common Clock, Extended Synch are RW.
        space.define({ offset: at(PcieReg.LNKCTL), width: 2, rw: 0x3 | (1 << 3) | (1 << 6) | (1 << 7) });
        // LinkSta: current speed and negotiated width = maximum; Slot Clock Configuration.
        space.define({ offset: at(PcieReg.LNKSTA), width: 2, value: speedCode | (width << 4) | (1 << 12) });
        // LinkCap2: Supported Link Speeds vector, every speed up to the maximum (bits 7:1).
        space.define({ offset: at(PcieReg.LNKCAP2), width: 4, value: ((1 << speedCode) - 1) << 1 });
        // LinkCtl2: Target Link Speed RW, reset to the maximum.
        space.define({ offset: at(PcieReg.LNKCTL2), width: 2, value: speedCode, rw: 0xf });
      }
      // DevCap2: completion timeout disable supported (bit 4); DevCtl2: timeout value/disable RW.
      space.define({ offset: at(PcieReg.DEVCAP2), width: 4, value: 1 << 4 });
      space.define({ offset: at(PcieReg.DEVCTL2), width: 2, rw: 0xf | (1 << 4) });

      const flrListeners = new Set<() => void>();
      if (flr) {
        space.onWrite(at(PcieReg.DEVCTL), 2, (write) => {
          const hi = write.data[at(PcieReg.DEVCTL) + 1 - write.offset];
          if (hi !== undefined && (hi & (DevCtl.INITIATE_FLR >> 8)) !== 0) for (const l of flrListeners) l();
        });
      }
      return {
        offset,
        get maxPayload() {
          return sizeFromCode((space.get16(at(PcieReg.DEVCTL)) >> 5) & 0x7);
        },
        get maxReadRequest() {
          return sizeFromCode((space.get16(at(PcieReg.DEVCTL)) >> 12) & 0x7);
        },
        onFunctionLevelReset(listener) {
          flrListeners.add(listener);
          return () => flrListeners.delete(listener);
        },
        setDeviceStatus(bits) {
          space.update16(at(PcieReg.DEVSTA), bits & 0xf, 0);
        },
      };
    },
  };
}

/** Declarations of the PCI Express capability. */
export const pciExpress = { endpoint } as const;
