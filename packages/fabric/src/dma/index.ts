export * from './dma-engine.ts';
export * from './scatter-gather.ts';
