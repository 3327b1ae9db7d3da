/**
 * Device specs of `p2pkit serve`: `kind[:key=value,…]` for the built-in devices, or a TypeScript
 * module of yours, `./my-device.ts[#export][:key=value,…]`, exporting an endpoint declaration, an
 * endpoint, a device instance, or a factory returning one (called with the key=values).
 *
 *   nvme:cmb=64M,pmr=4M,ns=1G,ns=/data/b.img:2G,doorbell=shadow-poll,serial=A,queues=8,id=nvmeA
 *   gpu:vram=64M      nic:mac=02:00:00:00:00:01      hello      ./dev.ts#createDev:size=4M
 */
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Servable } from '@p2pkit/fabric';
import { parseSize } from '../demo/options.ts';
import { UsageError } from '../exit.ts';

/** One parsed spec. */
export interface DeviceSpec {
  /** `nvme`, `gpu`, `nic`, `hello`, or `module`. */
  kind: 'nvme' | 'gpu' | 'nic' | 'hello' | 'module';
  /** The topology endpoint id (`id=`; default `<kind><n>`). */
  id: string;
  /** For `module`: the file and the export (default: the default export). */
  module?: { path: string; exportName: string };
  /** key → values (a key may repeat: `ns=…,ns=…`). */
  options: Map<string, string[]>;
  /** The spec as written. */
  text: string;
}

const KINDS = ['nvme', 'gpu', 'nic', 'hello'] as const;
const KEYS: Record<string, readonly string[]> = {
  nvme: ['id', 'serial', 'model', 'cmb', 'pmr', 'pmr-file', 'ns', 'doorbell', 'queues'],
  gpu: ['id', 'vram'],
  nic: ['id', 'mac'],
  hello: ['id'],
};

/** Parse the specs, naming devices `<kind><n>` unless `id=` says otherwise. */
export function parseDeviceSpecs(texts: readonly string[]): DeviceSpec[] {
  const counts = new Map<string, number>();
  const specs = texts.map((text): DeviceSpec => {
    const isModule = /[/\\]|\.(m?ts|m?js)(#|:|$)/.test(text.split(':')[0] ?? '');
    const [head = '', rest = ''] = isModule
      ? splitModule(text)
      : [text.split(':')[0] ?? '', text.slice((text.split(':')[0] ?? '').length + 1)];
    const options = new Map<string, string[]>();
    for (const pair of rest ? rest.split(',') : []) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new UsageError(`device ${text}: '${pair}' is not key=value`);
      const key = pair.slice(0, eq);
      options.set(key, [...(options.get(key) ?? []), pair.slice(eq + 1)]);
    }
    const kind = isModule ? 'module' : (KINDS as readonly string[]).includes(head) ? (head as DeviceSpec['kind']) : undefined;
    if (!kind) throw new UsageError(`device ${text}: unknown kind '${head}' (nvme, gpu, nic, hello, or a path to your module: ./dev.ts)`);
    const allowed = KEYS[kind];
    for (const key of options.keys()) {
      if (allowed && !allowed.includes(key))
        throw new UsageError(`device ${text}: unknown option '${key}' for ${kind} (${allowed.join(', ')})`);
    }
    const base = kind === 'module' ? 'dev' : kind;
    const n = counts.get(base) ?? 0;
    counts.set(base, n + 1);
    const [path = '', exportName = 'default'] = head.split('#');
    return {
      kind,
      id: options.get('id')?.[0] ?? `${base}${n}`,
      ...(kind === 'module' ? { module: { path, exportName } } : {}),
      options,
      text,
    };
  });
  const ids = specs.map((s) => s.id);
  const dup = ids.find((id, i) => ids.indexOf(id) !== i);
  if (dup) throw new UsageError(`two devices are named ${dup}: give one an id=`);
  return specs;
}

/** `./x.ts#make:a=1` → [`./x.ts#make`, `a=1`] (the options start at the first ':' after the extension). */
function splitModule(text: string): [string, string] {
  const m = /^(.*?\.(?:m?ts|m?js)(?:#[A-Za-z_$][\w$]*)?)(?::(.*))?$/.exec(text);
  if (!m?.[1]) throw new UsageError(`device ${text}: a module path must end in .ts or .js (optionally #exportName)`);
  return [m[1], m[2] ?? ''];
}

const one = (s: DeviceSpec, key: string): string | undefined => s.options.get(key)?.at(-1);
const size = (s: DeviceSpec, key: string): number | undefined => {
  const v = one(s, key);
  return v === undefined ? undefined : parseSize(v, `${s.id} ${key}`);
};

/** A servable from a module export: the value itself, or what the factory returns. */
function isServable(v: unknown): v is Servable {
  return typeof v === 'object' && v !== null && ('create' in v || 'endpoint' in v || 'regionRead' in v);
}

/** Create the device of `spec`; files (namespaces, PMR) of devices without paths go in `dir`. */
export async function createDevice(spec: DeviceSpec, dir: string): Promise<{ device: Servable; summary: string }> {
  switch (spec.kind) {
    case 'nvme': {
      const { createNvme } = await import('@p2pkit/nvme');
      const cmb = size(spec, 'cmb');
      const pmr = size(spec, 'pmr');
      const ns = (spec.options.get('ns') ?? ['1G']).map((v, i) => {
        // `1G` → an image in dir; `/path` or `/path:2G` → that image (created sparse if missing).
        const at = v.lastIndexOf(':');
        const isPath = /[/\\.]/.test(v.split(':')[0] ?? '');
        if (!isPath) return { path: join(dir, `${spec.id}-ns${i + 1}.img`), sizeBytes: parseSize(v, `${spec.id} ns`) };
        const path = resolve(at > 0 ? v.slice(0, at) : v);
        return at > 0 ? { path, sizeBytes: parseSize(v.slice(at + 1), `${spec.id} ns`) } : { path };
      });
      const doorbell = one(spec, 'doorbell');
      if (doorbell && !['mmio', 'shadow', 'shadow-poll'].includes(doorbell))
        throw new UsageError(`${spec.id} doorbell: '${doorbell}' is not mmio, shadow or shadow-poll`);
      const queues = one(spec, 'queues');
      const device = await createNvme({
        serial: one(spec, 'serial') ?? spec.id.toUpperCase(),
        ...(one(spec, 'model') ? { model: one(spec, 'model') } : {}),
        ...(cmb ? { cmb: { size: cmb } } : {}),
        ...(pmr ? { pmr: { path: resolve(one(spec, 'pmr-file') ?? join(dir, `${spec.id}-pmr.bin`)), size: pmr } } : {}),
        ...(doorbell ? { doorbellStrategy: doorbell as 'mmio' | 'shadow' | 'shadow-poll' } : {}),
        ...(queues ? { maxIoQueues: Number(queues) } : {}),
        namespaces: ns,
      });
      const mib = (n: number) => `${n / 2 ** 20} MiB`;
      const parts = [
        `NVMe serial ${one(spec, 'serial') ?? spec.id.toUpperCase()}`,
        cmb ? `CMB ${mib(cmb)}` : '',
        pmr ? `PMR ${mib(pmr)}` : '',
        `${ns.length} namespace(s): ${ns.map((n) => n.path).join(', ')}`,
      ];
      return { device, summary: parts.filter(Boolean).join(', ') };
    }
    case 'gpu': {
      const { createGpu } = await import('@p2pkit/devices');
      const vram = size(spec, 'vram');
      return {
        device: await createGpu({ name: spec.id, ...(vram ? { vramSize: vram } : {}) }),
        summary: `GPU stub, VRAM ${(vram ?? 64 << 20) / 2 ** 20} MiB`,
      };
    }
    case 'nic': {
      const { createNic } = await import('@p2pkit/devices');
      const mac = one(spec, 'mac');
      const device = await createNic({ name: spec.id, ...(mac ? { mac } : {}) });
      return { device, summary: `NIC stub, MAC ${device.mac}` };
    }
    case 'hello': {
      // The example endpoint of this repository (examples/hello-endpoint), loaded by path like your own module.
      const url = new URL('../../../../examples/hello-endpoint/hello.ts', import.meta.url);
      const { hello } = (await import(url.href)) as { hello: Servable };
      return { device: hello, summary: 'hello endpoint (examples/hello-endpoint): scratch register + DMA engine' };
    }
    case 'module': {
      const { path, exportName } = spec.module as { path: string; exportName: string };
      const file = isAbsolute(path) ? path : resolve(path);
      const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
      const value = mod[exportName];
      if (value === undefined)
        throw new UsageError(`${path} has no export '${exportName}' (exports: ${Object.keys(mod).join(', ') || 'none'})`);
      const args = Object.fromEntries([...spec.options].filter(([k]) => k !== 'id').map(([k, v]) => [k, v.at(-1)]));
      const made = typeof value === 'function' ? await (value as (o: Record<string, unknown>) => unknown)(args) : value;
      if (!isServable(made))
        throw new UsageError(
          `${path}#${exportName} is not a device: export a defineEndpoint() declaration, an Endpoint, a device instance or a factory returning one`,
        );
      return { device: made, summary: `${path}#${exportName}` };
    }
  }
}
