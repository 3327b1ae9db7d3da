export * from './link-counters.ts';
export * from './tlp.ts';
