/** @p2pkit/devices: GPU and NIC stub endpoints, building blocks for peer-to-peer DMA experiments. */
export { CeStatus, createGpu, GPU_ID, GPU_VRAM_BAR, type GpuDevice, type GpuOptions, GpuReg } from './gpu.ts';
export {
  cable,
  createNic,
  DESCRIPTOR_SIZE,
  DescFlags,
  NIC_ID,
  NicInt,
  type NicDevice,
  type NicOptions,
  type NicRef,
  NicReg,
  NicVector,
} from './nic.ts';
