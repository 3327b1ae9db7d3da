export * from './address-map.ts';
export * from './route.ts';
export * from './router.ts';
