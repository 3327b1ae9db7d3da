import { join } from 'node:path';
import { resolveAtomicLimits } from './atomic/limits.ts';
import type { AsyncEvents } from './events.ts';
import { AsyncEventType, NoticeEventInfo } from './events.ts';
import { configuredFormat, type NamespaceFormat } from './lba-format.ts';
import { Namespace } from './namespace.ts';
import type { NamespaceOptions, ResolvedOptions } from './options.ts';

/** The controller's namespaces: allocated (exist in the subsystem) vs attached (active here). */
export class NamespaceSet {
  private readonly allocated = new Map<number, Namespace>();
  private readonly attached = new Set<number>();
  /** The options a namespace opened at start was configured with (created ones have none). */
  private readonly configured = new WeakMap<Namespace, NamespaceOptions>();
  /** Changed Namespace List (Log Page 04h); undefined entry means overflow (> 1024 changes). */
  private changed = new Set<number>();

  constructor(
    private readonly options: ResolvedOptions,
    private readonly events: AsyncEvents,
  ) {}

  async openConfigured(): Promise<void> {
    const member = this.options.subsystem;
    for (const ns of member?.namespaces ?? []) {
      this.allocated.set(ns.nsid, ns);
      if (member?.attached.includes(ns.nsid)) this.attached.add(ns.nsid);
    }
    for (const o of this.options.namespaces) {
      const nsid = o.nsid ?? this.freeNsid();
      if (nsid === undefined || nsid > this.options.maxNamespaces || this.allocated.has(nsid)) {
        throw new RangeError(`namespace ${o.path}: nsid ${nsid} unavailable`);
      }
      const ns = await Namespace.open({
        nsid,
        path: o.path,
        sizeBytes: o.sizeBytes,
        format: configuredFormat(o),
        ownsFile: false,
        serial: this.options.serial,
        holePuncher: this.options.holePuncher,
        atomicLimits: resolveAtomicLimits(o.atomicWrite, this.options.atomicWrite),
        zoned: o.zoned,
      });
      this.allocated.set(nsid, ns);
      this.configured.set(ns, o);
      if (o.attached ?? true) this.attached.add(nsid);
    }
  }

  /** The options of a namespace from `NvmeControllerOptions.namespaces`; undefined for created ones. */
  configuredOptions(ns: Namespace): NamespaceOptions | undefined {
    return this.configured.get(ns);
  }

  freeNsid(): number | undefined {
    for (let id = 1; id <= this.options.maxNamespaces; id++) if (!this.allocated.has(id)) return id;
    return undefined;
  }

  /** Active namespace (attached to this controller). */
  active(nsid: number): Namespace | undefined {
    return this.attached.has(nsid) ? this.allocated.get(nsid) : undefined;
  }

  get(nsid: number): Namespace | undefined {
    return this.allocated.get(nsid);
  }

  isAttached(nsid: number): boolean {
    return this.attached.has(nsid);
  }

  activeIds(): number[] {
    return [...this.attached].sort((a, b) => a - b);
  }

  allocatedIds(): number[] {
    return [...this.allocated.keys()].sort((a, b) => a - b);
  }

  activeNamespaces(): Namespace[] {
    return this.activeIds().map((id) => this.allocated.get(id) as Namespace);
  }

  allNamespaces(): Namespace[] {
    return [...this.allocated.values()];
  }

  /** Bytes allocated to namespaces (for UNVMCAP). */
  allocatedBytes(): number {
    let n = 0;
    for (const ns of this.allocated.values()) n += ns.sizeBytes;
    return n;
  }

  /** Namespace Management create (§5.22); the caller validated fields and capacity. */
  async create(sizeBytes: number, format: NamespaceFormat): Promise<Namespace> {
    const nsid = this.freeNsid() as number;
    const dir = this.options.namespaceDirectory as string;
    const ns = await Namespace.open({
      nsid,
      path: join(dir, `ns${nsid}.img`),
      sizeBytes,
      format,
      ownsFile: true,
      serial: this.options.serial,
      holePuncher: this.options.holePuncher,
      atomicLimits: resolveAtomicLimits(undefined, this.options.atomicWrite),
    });
    this.allocated.set(nsid, ns);
    return ns;
  }

  async delete(nsid: number): Promise<void> {
    const ns = this.allocated.get(nsid);
    if (!ns) return;
    if (this.attached.has(nsid)) this.detach(nsid);
    this.allocated.delete(nsid);
    await ns.destroy();
  }

  attach(nsid: number): void {
    this.attached.add(nsid);
    this.noteChanged(nsid);
  }

  detach(nsid: number): void {
    this.attached.delete(nsid);
    this.noteChanged(nsid);
  }

  /** Records a change and raises the Namespace Attribute Changed notice (§5.2, Log 04h). */
  noteChanged(nsid: number): void {
    this.changed.add(nsid);
    this.events.raise({ type: AsyncEventType.Notice, info: NoticeEventInfo.NamespaceAttributeChanged, logPage: 0x04 });
  }

  /** Log Page 04h; read without RAE clears it. */
  changedLog(clear: boolean): Uint8Array {
    const out = new Uint8Array(4096);
    const v = new DataView(out.buffer);
    const ids = [...this.changed].sort((a, b) => a - b);
    if (ids.length > 1024) v.setUint32(0, 0xffffffff, true);
    else
      ids.forEach((id, i) => {
        v.setUint32(i * 4, id, true);
      });
    if (clear) this.changed = new Set();
    return out;
  }

  async flushAll(): Promise<void> {
    await Promise.all([...this.allocated.values()].map((ns) => ns.flush()));
  }

  /** Closes the images this controller opened; a subsystem's shared namespaces stay open for its other controllers. */
  async closeAll(): Promise<void> {
    const shared = new Set(this.options.subsystem?.namespaces);
    await Promise.all([...this.allocated.values()].filter((ns) => !shared.has(ns)).map((ns) => ns.close()));
    this.allocated.clear();
    this.attached.clear();
  }
}
