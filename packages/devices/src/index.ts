/** @p2pkit/devices: GPU and NIC stub endpoints, building blocks for peer-to-peer DMA experiments. */

export { createGpu, GPU_ID, type GpuDevice, type GpuOptions } from './gpu.ts';
export {
  CeStatus,
  GPU_VRAM_BAR,
  GpuDesc,
  GpuDescFlags,
  GpuDescStatus,
  type GpuKernel,
  type GpuKernelArgs,
  GpuOp,
  GpuReg,
  QueueStatus,
} from './gpu-engine.ts';
export { createNic, type NicDevice, type NicOptions } from './nic.ts';
export { cable, type NicRef } from './nic-link.ts';
export { DESCRIPTOR_SIZE, DescFlags, MAX_FRAME, NIC_ID, NicInt, NicReg, NicVector } from './nic-regs.ts';
export { connectFrameSocket, type FrameSocket, type NicSocketBackend, type NicSocketStats, socketBackend } from './nic-socket.ts';
