export * from './perfetto.ts';
export * from './timeline.ts';
export * from './trace-format.ts';
export * from './trace-reader.ts';
export * from './trace-window.ts';
export * from './trace-writer.ts';
