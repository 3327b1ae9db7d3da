/**
 * `serve()`: the one way to put a p2pkit device on a vfio-user socket, alone or on a shared fabric.
 *
 * ```ts
 * using hello0 = serve(hello, { socket: '/run/hello.sock' });                  // a declaration
 * using a = serve(await createNvme(options), { socket, fabric, id: 'nvmeA' }); // on a fabric
 * ```
 *
 * The fabric is the lowest layer that knows both pci endpoints and the fabric model, hence here.
 */
import type { Logger } from '@p2pkit/base';
import { type DeviceInstance, Endpoint, type EndpointDefinition, type EndpointInstanceOptions, memfdBarMemory } from '@p2pkit/pci';
import { type ServerOptions, VfioUserServer } from '@p2pkit/vfio-user';
import type { Fabric } from './fabric.ts';
import { FabricEndpoint } from './pci/join-fabric.ts';

/** Anything `serve()` takes: a declaration (`defineEndpoint`), an endpoint instance, or a device instance. */
export type Servable = EndpointDefinition | Endpoint | DeviceInstance;

/** Options of {@link serve}. */
export interface ServeOptions {
  /** UNIX socket path to listen on (start serving before QEMU boots: it connects while realizing). */
  socket: string;
  /** Join this fabric: DMA is routed and counted, BARs are reachable by peers in this process. */
  fabric?: Fabric;
  /** The endpoint's id in the fabric's topology; required with `fabric`. */
  id?: string;
  /** Log channels of the server (and of an endpoint created from a declaration). Default: stderr. */
  logger?: Logger;
  /** Further vfio-user server options (`logger` above wins). */
  server?: ServerOptions;
}

/** A served device; dispose (or `close()`) to stop serving. */
export interface ServedDevice extends Disposable {
  /** The served endpoint. */
  readonly endpoint: Endpoint;
  /** Its vfio-user server (`server.session?.stats` counts messages per command). */
  readonly server: VfioUserServer;
  /** The endpoint as it sits on the fabric, when served on one. */
  readonly fabricEndpoint: FabricEndpoint | undefined;
  /**
   * Stops the server and leaves the fabric. An endpoint that `serve()` created from a declaration
   * is closed too; endpoints and device instances passed in stay open (their owner closes them).
   */
  close(): void;
}

/** Serves `device` on `options.socket`, alone or on `options.fabric` under topology id `options.id`. */
export function serve(device: Servable, options: ServeOptions): ServedDevice {
  if (options.fabric && options.id === undefined) throw new TypeError('serve: `id` (the topology endpoint) is required with `fabric`');
  const created = !(device instanceof Endpoint) && 'create' in device;
  const endpoint =
    device instanceof Endpoint ? device : 'create' in device ? device.create(instanceOptions(options.logger)) : device.endpoint;
  let fabricEndpoint: FabricEndpoint | undefined;
  let server: VfioUserServer | undefined;
  try {
    fabricEndpoint = options.fabric ? new FabricEndpoint(options.fabric, options.id as string, endpoint) : undefined;
    const serverOptions = options.logger ? { ...options.server, logger: options.logger } : options.server;
    server = VfioUserServer.listen(options.socket, fabricEndpoint ?? endpoint, serverOptions);
  } catch (e) {
    fabricEndpoint?.close();
    if (created) endpoint.close();
    throw e;
  }
  const listening = server;
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    listening.close();
    fabricEndpoint?.close();
    if (created) endpoint.close();
  };
  return { endpoint, server: listening, fabricEndpoint, close, [Symbol.dispose]: close };
}

/** Memory BARs as memfds (QEMU maps them into the guest); endpoint-level reports on `logger`'s channels. */
function instanceOptions(logger: Logger | undefined): EndpointInstanceOptions {
  if (!logger) return { memory: memfdBarMemory };
  return {
    memory: memfdBarMemory,
    logger: {
      deviceError: (error, where) => logger.device(`${where}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`),
      guestError: (message, detail) => logger.guest(message, detail),
    },
  };
}
