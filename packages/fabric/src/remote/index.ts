export * from './frame-channel.ts';
export * from './protocol.ts';
export * from './remote-endpoint-client.ts';
export * from './remote-endpoint-server.ts';
export * from './rpc.ts';
