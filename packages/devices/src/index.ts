/** @p2pkit/devices: GPU and NIC stub endpoints, building blocks for peer-to-peer DMA experiments. */
export { CeStatus, GPU_ID, GPU_VRAM_BAR, type GpuOptions, GpuReg, gpu } from './gpu.ts';
export { cable, DESCRIPTOR_SIZE, DescFlags, NIC_ID, NicInt, type NicOptions, type NicRef, NicReg, NicVector, nic } from './nic.ts';
