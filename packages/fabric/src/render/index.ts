export * from './chart.ts';
export * from './table.ts';
export * from './topology-svg.ts';
