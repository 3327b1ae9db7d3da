/** What the p2pdma scenarios share: sizes, and the kernel's p2p host-bridge rules they check. */

export const MiB = 1024 * 1024;

/**
 * drivers/pci/p2pdma.c refuses a transfer between devices without a common upstream bridge with
 * "cannot be used for peer-to-peer DMA as the client and provider (…) do not share an upstream
 * bridge or whitelisted host bridge", unless the host bridge is on its allow-list or the CPU is AMD Zen.
 */
export const REFUSAL = 'do not share an upstream bridge or whitelisted host bridge';

/**
 * Host bridges on the kernel's allow-list (pci_p2pdma_whitelist[], all Intel): Xeon E5 0x3c00/0x3c01,
 * Xeon E7 v3 0x2f00/0x2f01, Skylake-E 0x2030-0x2033 and 0x2020, Ice Lake-SP 0x09a2.
 */
export const ALLOWED_INTEL_HOST_BRIDGES = [0x3c00, 0x3c01, 0x2f00, 0x2f01, 0x2030, 0x2031, 0x2032, 0x2033, 0x2020, 0x09a2];

/** cpu_supports_p2pdma(): any AMD CPU of family 0x17 (Zen) or later allows p2p through the host bridge. */
export const AMD_ZEN_FAMILY = 0x17;

/** Guest script printing the host bridge IDs and the CPU (vendor, family) as key=value lines. */
export const HOST_BRIDGE_FACTS = `echo "hb_vendor=$(cat /sys/bus/pci/devices/0000:00:00.0/vendor)"
  echo "hb_device=$(cat /sys/bus/pci/devices/0000:00:00.0/device)"
  echo "cpu_vendor=$(sed -n 's/^vendor_id[[:space:]]*: //p' /proc/cpuinfo | head -1)"
  echo "cpu_family=$(sed -n 's/^cpu family[[:space:]]*: //p' /proc/cpuinfo | head -1)"`;
