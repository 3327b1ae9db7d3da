export * from './acs.ts';
export * from './builder.ts';
export * from './description.ts';
export * from './link.ts';
export * from './model.ts';
export * from './from-qemu.ts';
