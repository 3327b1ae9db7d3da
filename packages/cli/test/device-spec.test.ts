/** `p2pkit serve` device specs and layouts (no devices are created here). */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDevice, type DeviceSpec, parseDeviceSpecs } from '../src/serve/device-spec.ts';
import { formatArguments, layoutTopology, servedIds } from '../src/serve/plan.ts';

describe('device specs', () => {
  it('names devices <kind><n> unless id= is given, and keeps repeated keys', () => {
    const specs = parseDeviceSpecs(['nvme:cmb=64M,ns=1G,ns=/data/b.img:2G', 'nvme', 'gpu:vram=32M', 'hello', 'nic:id=eth0']);
    expect(specs.map((s) => [s.kind, s.id])).toEqual([
      ['nvme', 'nvme0'],
      ['nvme', 'nvme1'],
      ['gpu', 'gpu0'],
      ['hello', 'hello0'],
      ['nic', 'eth0'],
    ]);
    expect(specs[0]?.options.get('ns')).toEqual(['1G', '/data/b.img:2G']);
  });

  it('takes a module path with an export and options', () => {
    const [s] = parseDeviceSpecs(['./my/dev.ts#createDev:size=4M,id=acc0']);
    expect(s).toMatchObject({ kind: 'module', id: 'acc0', module: { path: './my/dev.ts', exportName: 'createDev' } });
    expect(s?.options.get('size')).toEqual(['4M']);
    expect(parseDeviceSpecs(['dev.ts'])[0]?.module).toEqual({ path: 'dev.ts', exportName: 'default' });
  });

  it('refuses unknown kinds, unknown options and duplicate ids with one line each', () => {
    expect(() => parseDeviceSpecs(['ssd'])).toThrow(/unknown kind 'ssd' \(nvme, gpu, nic, hello, or a path to your module/);
    expect(() => parseDeviceSpecs(['nvme:cbm=64M'])).toThrow(/unknown option 'cbm' for nvme \(id, serial, model, cmb, pmr/);
    expect(() => parseDeviceSpecs(['nvme:cmb'])).toThrow(/'cmb' is not key=value/);
    expect(() => parseDeviceSpecs(['nvme:id=a', 'gpu:id=a'])).toThrow(/two devices are named a/);
  });
});

describe('layouts and QEMU arguments', () => {
  it('puts devices below one switch by default, or on root ports / the root bus', () => {
    const sw = layoutTopology(['a', 'b'], 'switch');
    expect(sw.rootPorts[0]?.switch?.downstream.map((d) => d.id)).toEqual(['dn0', 'dn1']);
    expect(servedIds(sw)).toEqual(['a', 'b']);
    expect(layoutTopology(['a', 'b'], 'root-ports').rootPorts.map((r) => r.id)).toEqual(['rp0', 'rp1']);
    expect(layoutTopology(['a', 'b'], 'root-bus').endpoints.map((e) => e.id)).toEqual(['a', 'b']);
    expect(() => layoutTopology(['a'], 'ring' as 'switch')).toThrow(/--layout: 'ring'/);
  });

  it('prints one option per line, JSON -device values quoted for the shell', () => {
    const text = formatArguments(['-m', '1G', '-device', '{"driver":"vfio-user-pci","socket":{"path":"/s","type":"unix"}}']);
    expect(text).toBe(`  -m 1G \\\n  -device '{"driver":"vfio-user-pci","socket":{"path":"/s","type":"unix"}}'`);
  });
});

describe('devices from your module', () => {
  const fixture = join(import.meta.dirname, 'fixtures', 'scratch-device.ts');

  it('calls a factory export with the key=values and serves what it returns', async () => {
    const [spec] = parseDeviceSpecs([`${fixture}#createScratch:size=8192,id=acc0`]);
    const { device, summary } = await createDevice(spec as DeviceSpec, tmpdir());
    const mod = await import('./fixtures/scratch-device.ts');
    expect(mod.calls).toEqual([{ size: '8192' }]); // id= is the endpoint's, not the factory's
    expect(device).toBe((await import('../../../examples/hello-endpoint/hello.ts')).hello);
    expect(summary).toBe(`${fixture}#createScratch`);
  });

  it('names a missing export and a value that is not a device', async () => {
    const [missing] = parseDeviceSpecs([`${fixture}#nope`]);
    await expect(createDevice(missing as DeviceSpec, tmpdir())).rejects.toThrow(
      /has no export 'nope' \(exports: calls, createScratch, notADevice\)/,
    );
    const [wrong] = parseDeviceSpecs([`${fixture}#notADevice`]);
    await expect(createDevice(wrong as DeviceSpec, tmpdir())).rejects.toThrow(
      /#notADevice is not a device: export a defineEndpoint\(\) declaration/,
    );
  });
});
