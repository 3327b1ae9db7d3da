/**
 * What a guest kernel's configuration must have for p2pkit guests, and the check that lists every
 * missing option with its fix at once (a kernel build takes long enough that one-at-a-time hurts).
 */

/** One required kernel option. */
export interface KernelOption {
  /** Without the `CONFIG_` prefix, e.g. `PCI_P2PDMA`. */
  readonly name: string;
  /** `y`: must be built in; `ym`: built in or a module. */
  readonly need: 'y' | 'ym';
  /** What the guest uses it for. */
  readonly why: string;
  /** Where it is in menuconfig. */
  readonly menu: string;
}

/** Kernel options the testbed depends on (checked for sid's kernel and for a kernel you bring). */
export const REQUIRED_KERNEL_OPTIONS: readonly KernelOption[] = [
  { name: 'X86_64', need: 'y', why: 'the guest is QEMU q35 with an amd64 userland', menu: 'ARCH=x86_64 (64-bit kernel)' },
  {
    name: 'PCI_P2PDMA',
    need: 'y',
    why: 'p2pmem: publishing CMBs and peer-to-peer DMA',
    menu: 'Device Drivers → PCI support → PCI peer-to-peer transfer support',
  },
  {
    name: 'ZONE_DEVICE',
    need: 'y',
    why: 'p2pmem pages are ZONE_DEVICE pages (PCI_P2PDMA depends on it)',
    menu: 'Memory Management options → Device memory (pmem, HMM, etc...) hotplug support',
  },
  {
    name: 'BLK_DEV_NVME',
    need: 'ym',
    why: 'the stock nvme driver binds the NVMe controllers',
    menu: 'Device Drivers → NVME Support → NVM Express block device',
  },
  {
    name: 'BLK_DEV_INITRD',
    need: 'y',
    why: 'the testbed boots through its own initramfs',
    menu: 'General setup → Initial RAM filesystem and RAM disk support',
  },
  {
    name: 'RD_GZIP',
    need: 'y',
    why: 'the initramfs is gzip-compressed',
    menu: 'General setup → Initial RAM filesystem → Support initial ramdisk/ramfs compressed using gzip',
  },
  {
    name: 'DEVTMPFS',
    need: 'y',
    why: 'the initramfs mounts devtmpfs',
    menu: 'Device Drivers → Generic Driver Options → Maintain a devtmpfs filesystem',
  },
  {
    name: 'TMPFS',
    need: 'y',
    why: 'the guest agent mounts /tmp and /run as tmpfs',
    menu: 'File systems → Pseudo filesystems → Tmpfs virtual memory file system support',
  },
  {
    name: 'SERIAL_8250_CONSOLE',
    need: 'y',
    why: 'console=ttyS0: the console log shows why a boot failed',
    menu: 'Device Drivers → Character devices → Serial drivers → Console on 8250/16550 and compatible serial port',
  },
  {
    name: 'VIRTIO_PCI',
    need: 'ym',
    why: 'every testbed channel is a virtio device',
    menu: 'Device Drivers → Virtio drivers → PCI driver for virtio devices',
  },
  { name: 'VIRTIO_BLK', need: 'ym', why: 'the root image is a virtio disk', menu: 'Device Drivers → Block devices → Virtio block driver' },
  { name: 'EXT4_FS', need: 'ym', why: 'the root image is ext4', menu: 'File systems → The Extended 4 (ext4) filesystem' },
  {
    name: 'VIRTIO_CONSOLE',
    need: 'ym',
    why: 'the job channel and the interactive shell are virtio-serial ports',
    menu: 'Device Drivers → Character devices → Virtio console',
  },
  {
    name: 'NET_9P',
    need: 'ym',
    why: 'job files travel through a 9p share',
    menu: 'Networking support → Plan 9 Resource Sharing Support (9P2000)',
  },
  {
    name: 'NET_9P_VIRTIO',
    need: 'ym',
    why: 'the 9p share is virtio-9p',
    menu: 'Networking support → Plan 9 Resource Sharing Support → 9P Virtio Transport',
  },
  {
    name: '9P_FS',
    need: 'ym',
    why: 'the guest mounts the 9p share',
    menu: 'File systems → Network File Systems → Plan 9 Resource Sharing Support (9P2000)',
  },
];

/** An option the configuration lacks. */
export interface MissingOption {
  /** The requirement. */
  readonly option: KernelOption;
  /** The value found: `n` (not set) or `m` where `y` is needed. */
  readonly found: string;
}

/** Parse `CONFIG_X=y|m|"…"` and `# CONFIG_X is not set` lines into name (without prefix) → value. */
export function parseKernelConfig(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const set = /^CONFIG_([A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (set?.[1]) values.set(set[1], set[2] ?? '');
    const unset = /^# CONFIG_([A-Za-z0-9_]+) is not set/.exec(line);
    if (unset?.[1]) values.set(unset[1], 'n');
  }
  return values;
}

/** Every required option the configuration text does not satisfy. */
export function missingKernelOptions(configText: string, required: readonly KernelOption[] = REQUIRED_KERNEL_OPTIONS): MissingOption[] {
  const values = parseKernelConfig(configText);
  return required.flatMap((option) => {
    const v = values.get(option.name) ?? 'n';
    const ok = v === 'y' || (option.need === 'ym' && v === 'm');
    return ok ? [] : [{ option, found: v }];
  });
}

/** The config (from a file or a kernel image) lacks options; the message lists each with its fix. */
export class KernelConfigError extends Error {
  /** Always `KernelConfigError`. */
  override name = 'KernelConfigError';
  constructor(
    /** Where the configuration was read. */
    readonly source: string,
    /** Every option the configuration lacks. */
    readonly missing: readonly MissingOption[],
  ) {
    super(`kernel configuration ${source} lacks what p2pkit guests need:\n${formatMissing(missing)}`);
  }
}

/** One line per missing option with the fix, e.g. `CONFIG_PCI_P2PDMA is not set (need =y: p2pmem …)`. */
function formatMissing(missing: readonly MissingOption[]): string {
  return missing
    .map(({ option: o, found }) => {
      const have = found === 'n' ? 'is not set' : `=${found}`;
      const want = o.need === 'y' ? '=y' : '=y or =m';
      return `  CONFIG_${o.name} ${have} (need ${want}: ${o.why})\n    fix: ${o.menu}; or scripts/config --enable ${o.name} && make olddefconfig`;
    })
    .join('\n');
}

/** Throw a {@link KernelConfigError} naming every missing option. */
export function assertKernelConfig(configText: string, source: string): void {
  const missing = missingKernelOptions(configText);
  if (missing.length > 0) throw new KernelConfigError(source, missing);
}
