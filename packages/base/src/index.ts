/**
 * @p2pkit/base — the types every p2pkit device layer shares: a device's DMA space and its errors,
 * the context a served device receives, log channels, Linux errno values, size units, and dword
 * access to memory the guest updates concurrently.
 * It depends on nothing else in p2pkit.
 */
export { type DeviceContext, IrqIndex, type IrqIndexValue, type IrqSink } from './device-context.ts';
export { DmaError, type DmaRange, type DmaSpace, directViewsOf, eachDirectView } from './dma.ts';
export { Errno, errnoName } from './errno.ts';
export { consoleLogger, formatLogDetail, type LogChannel, type Logger, type RecordingLogger, recordingLogger } from './logger.ts';
export { type RateLimitOptions, rateLimitedLogger } from './rate-limited-logger.ts';
export { loadDword, storeDword } from './shared-dword.ts';
export { formatBytes, gib, hex, isPowerOfTwo, kib, mib } from './units.ts';
