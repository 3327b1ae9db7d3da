export * from './trace-format.ts';
export * from './trace-reader.ts';
export * from './trace-writer.ts';
