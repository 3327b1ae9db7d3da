export * from './chart.ts';
export * from './table.ts';
