import { type ServerOptions, VfioUserServer } from '@p2pkit/vfio-user';
import type { EndpointDefinition, EndpointInstanceOptions, Endpoint } from './endpoint.ts';
import { memfdBarMemory } from './memfd-bar-memory.ts';

/** A running endpoint and its vfio-user server; dispose to stop both. */
export interface ServedEndpoint extends Disposable {
  endpoint: Endpoint;
  server: VfioUserServer;
  close(): void;
}

/**
 * Instantiate `definition` with memfd-backed memory BARs and serve it on a UNIX socket at `path`
 * (start this before QEMU: it connects while realizing the device).
 */
export function serveEndpoint(
  definition: EndpointDefinition,
  path: string,
  options: { instance?: EndpointInstanceOptions; server?: ServerOptions } = {},
): ServedEndpoint {
  const endpoint = definition.create({ memory: memfdBarMemory, ...options.instance });
  const server = VfioUserServer.listen(path, endpoint, options.server);
  const close = () => {
    server.close();
    endpoint.close();
  };
  return { endpoint, server, close, [Symbol.dispose]: close };
}
