export * from './acs.ts';
export * from './builder.ts';
export * from './description.ts';
export * from './link.ts';
export * from './model.ts';
export { type EndpointInput, type QemuNvmeOptions, qemuNvme, type VfioUserOptions, vfioUser } from './devices.ts';
export { endpointsOf, mapEndpoints } from './walk.ts';
