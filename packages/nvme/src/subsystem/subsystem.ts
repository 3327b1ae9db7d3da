/**
 * An NVM subsystem of several p2pkit controllers (NVMe 2.0 base §2.4, §8.1.1): each controller is its
 * own PCI function (its own vfio-user device, placed anywhere in a topology), they share SUBNQN, SN
 * and the namespaces (one image, opened once), and report per-controller ANA states the host's
 * multipath code acts on.
 */
import { createHash } from 'node:crypto';
import type { EndpointInstanceOptions } from '@p2pkit/pci';
import { LogPageId } from '../admin/log-pages.ts';
import { CommandError } from '../command-error.ts';
import type { NvmeController } from '../controller.ts';
import { createNvme, type NvmeDevice, type NvmeOptions } from '../endpoint.ts';
import { AsyncEventType, NoticeEventInfo } from '../events.ts';
import type { HolePuncher } from '../hole-puncher.ts';
import { configuredFormat } from '../lba-format.ts';
import { Namespace } from '../namespace.ts';
import { NativeHolePuncher } from '../native-hole-puncher.ts';
import type { NamespaceOptions } from '../options.ts';
import { type AnaGroupView, type AnaState, anaLogPage, anaStatus, isAnaState } from './ana.ts';
import type { AnaReporting, SubsystemMembership } from './membership.ts';

/**
 * A namespace of the subsystem: shared by every controller it is attached to (NMIC bit 0). Timing
 * profiles (`NamespaceOptions.timing`) apply to a controller's own namespaces only.
 */
export interface SubsystemNamespaceOptions extends Omit<NamespaceOptions, 'attached' | 'timing'> {
  /** ANA group (ANAGRPID), 1..anaGroups; default 1. Ignored with `anaGroups: 0`. */
  anaGroup?: number;
}

/** Options of {@link createNvmeSubsystem}. */
export interface NvmeSubsystemOptions {
  /** NVM Subsystem NQN (SUBNQN in Identify Controller): the host joins controllers with the same one. */
  nqn: string;
  /** The subsystem's serial number (SN, ≤ 20 ASCII characters), reported by every controller; default derived from `nqn`. */
  serial?: string;
  /** Model number (MN) of every controller; default the controller's default. */
  model?: string;
  /** The shared namespaces; each image is opened once, here. */
  namespaces: SubsystemNamespaceOptions[];
  /** ANA groups, IDs 1..n (ANAGRPMAX = NANAGRPID); default 1. 0: no ANA reporting (CMIC bit 3 clear). */
  anaGroups?: number;
  /** ANATT, seconds a group may stay in the change state (1..255); default 10. */
  anaTransitionTimeSeconds?: number;
  /** Deallocate / Write Zeroes with DEAC on the shared images; default punches holes (fallocate). */
  holePuncher?: HolePuncher;
}

/** Options of {@link NvmeSubsystem.controller}: a controller's own, minus what the subsystem decides. */
export interface NvmeSubsystemControllerOptions
  extends Omit<NvmeOptions, 'serial' | 'model' | 'namespaces' | 'subsystemNqn' | 'namespaceDirectory' | 'subsystem' | 'controllerId'> {
  /** CNTLID, unique in the subsystem (1..0xFFEF). */
  controllerId: number;
  /** SN of this controller; default the subsystem's (the spec's SN names the NVM subsystem). */
  serial?: string;
  /** NSIDs attached to this controller; default every namespace. */
  attach?: number[];
  /** ANA state per group at start; default 'optimized' for every group. */
  anaStates?: Record<number, AnaState>;
}

/** One controller's ANA view: a state per group and the change counts of its log page. */
interface AnaPath {
  states: Map<number, { state: AnaState; changeCount: bigint }>;
  changeCount: bigint;
}

interface Member {
  device: NvmeDevice;
  ana: AnaPath;
  closed: boolean;
  /** Closes the device once; the last one closes the images. */
  close(): Promise<void>;
}

const MAX_CNTLID = 0xffef;
const MAX_ANA_GROUPS = 128;

/**
 * Opens the subsystem's namespace images; then `controller()` makes each controller. The images are
 * closed with the last controller (or by {@link NvmeSubsystem.close}).
 *
 * @example
 * ```ts
 * import { createNvmeSubsystem } from '@p2pkit/nvme';
 *
 * const subsystem = await createNvmeSubsystem({
 *   nqn: 'nqn.2019-08.org.p2pkit:multipath',
 *   namespaces: [{ path: '/tmp/shared.img', sizeBytes: 64 << 20 }],
 * });
 * const a = await subsystem.controller({ controllerId: 1 });
 * const b = await subsystem.controller({ controllerId: 2, anaStates: { 1: 'non-optimized' } });
 * subsystem.setAnaState(1, 1, 'inaccessible'); // I/O through A now fails over to B
 * await Promise.all([a.close(), b.close()]);
 * ```
 */
export async function createNvmeSubsystem(options: NvmeSubsystemOptions): Promise<NvmeSubsystem> {
  const anaGroups = options.anaGroups ?? 1;
  const anatt = options.anaTransitionTimeSeconds ?? 10;
  check(options.nqn.length > 0 && Buffer.byteLength(options.nqn) <= 223, 'nqn must be 1..223 bytes');
  check(Number.isInteger(anaGroups) && anaGroups >= 0 && anaGroups <= MAX_ANA_GROUPS, `anaGroups must be 0..${MAX_ANA_GROUPS}`);
  check(Number.isInteger(anatt) && anatt >= 1 && anatt <= 255, 'anaTransitionTimeSeconds must be 1..255');
  check(options.namespaces.length > 0, 'at least one namespace');
  const serial = options.serial ?? `S${createHash('sha256').update(options.nqn).digest('hex').slice(0, 16).toUpperCase()}`;
  check(serial.length > 0 && serial.length <= 20, 'serial must be 1..20 characters');
  const holePuncher = options.holePuncher ?? new NativeHolePuncher();
  const namespaces: Namespace[] = [];
  try {
    for (const o of options.namespaces) {
      const nsid = o.nsid ?? firstFree(namespaces);
      check(Number.isInteger(nsid) && nsid >= 1 && !namespaces.some((ns) => ns.nsid === nsid), `namespace ${o.path}: nsid ${nsid} taken`);
      const group = anaGroups === 0 ? 0 : (o.anaGroup ?? 1);
      check(
        anaGroups === 0 || (Number.isInteger(group) && group >= 1 && group <= anaGroups),
        `namespace ${nsid}: anaGroup ${group} not 1..${anaGroups}`,
      );
      namespaces.push(
        await Namespace.open({
          nsid,
          path: o.path,
          sizeBytes: o.sizeBytes,
          format: configuredFormat(o),
          ownsFile: false,
          // NGUID and EUI64 come from the NQN: the same on every controller, so the host sees one namespace.
          serial: options.nqn,
          holePuncher,
          shared: true,
          anaGroupId: group,
        }),
      );
    }
  } catch (e) {
    await Promise.all(namespaces.map((ns) => ns.close()));
    throw e;
  }
  return new Subsystem(
    options.nqn,
    serial,
    options.model,
    namespaces,
    anaGroups ? { groups: anaGroups, transitionTimeSeconds: anatt } : undefined,
  );
}

/** An NVM subsystem: shared namespaces, its controllers, and their ANA states. Made by {@link createNvmeSubsystem}. */
export interface NvmeSubsystem {
  /** SUBNQN of every controller. */
  readonly nqn: string;
  /** SN of every controller unless one is given its own. */
  readonly serial: string;
  /** ANA reporting, or undefined with `anaGroups: 0`. */
  readonly ana: AnaReporting | undefined;
  /** CNTLIDs of the controllers made so far, ascending. */
  readonly controllerIds: number[];
  /**
   * A new controller of the subsystem: its own PCI function, served like any `createNvme` device.
   * Throws RangeError for a taken CNTLID, an unknown NSID or ANA group, or an unknown state.
   */
  controller(options: NvmeSubsystemControllerOptions, instance?: EndpointInstanceOptions): Promise<NvmeDevice>;
  /** The ANA state controller `controllerId` reports for `group`. */
  anaState(controllerId: number, group: number): AnaState;
  /**
   * Changes the ANA state of `group` on controller `controllerId` (a path going away, coming back):
   * its log page changes and, when the host enabled it (Feature 0Bh bit 11), the controller sends an
   * Asymmetric Namespace Access Change notice.
   */
  setAnaState(controllerId: number, group: number, state: AnaState): void;
  /** Closes the controllers not closed yet, then the namespace images. */
  close(): Promise<void>;
}

/** The subsystem's state behind {@link NvmeSubsystem}. */
class Subsystem implements NvmeSubsystem {
  readonly #members = new Map<number, Member>();
  #closing = false;
  #imagesClosed: Promise<void> | undefined;

  constructor(
    readonly nqn: string,
    readonly serial: string,
    private readonly model: string | undefined,
    private readonly namespaces: readonly Namespace[],
    readonly ana: AnaReporting | undefined,
  ) {}

  get controllerIds(): number[] {
    return [...this.#members.keys()].sort((a, b) => a - b);
  }

  async controller(options: NvmeSubsystemControllerOptions, instance: EndpointInstanceOptions = {}): Promise<NvmeDevice> {
    if (this.#closing || this.#imagesClosed) throw new Error(`NVM subsystem ${this.nqn} is closed`);
    const { controllerId, attach, anaStates, serial, ...rest } = options;
    check(Number.isInteger(controllerId) && controllerId >= 1 && controllerId <= MAX_CNTLID, `controllerId must be 1..${MAX_CNTLID}`);
    check(!this.#members.has(controllerId), `controllerId ${controllerId} is taken`);
    const nsids = this.namespaces.map((ns) => ns.nsid);
    const attached = attach ?? nsids;
    for (const nsid of attached) check(nsids.includes(nsid), `attach: no namespace ${nsid}`);
    const maxNamespaces = rest.maxNamespaces ?? 32;
    for (const nsid of nsids) check(nsid <= maxNamespaces, `namespace ${nsid} is above maxNamespaces ${maxNamespaces}`);
    const ana = this.#initialAna(anaStates ?? {});
    const membership: SubsystemMembership = {
      namespaces: this.namespaces,
      attached,
      ana: this.ana,
      controllerIds: () => this.controllerIds,
    };
    const name = rest.name ?? `nvme-${serial ?? this.serial}-c${controllerId}`;
    const device = await createNvme(
      {
        ...rest,
        name,
        serial: serial ?? this.serial,
        ...(this.model ? { model: this.model } : {}),
        controllerId,
        subsystemNqn: this.nqn,
        subsystem: membership,
      },
      instance,
    );
    let closing: Promise<void> | undefined;
    const close = () => {
      closing ??= (async () => {
        await device.close();
        member.closed = true;
        if ([...this.#members.values()].every((m) => m.closed)) await this.#closeImages();
      })();
      return closing;
    };
    const member: Member = { device, ana, closed: false, close };
    this.#members.set(controllerId, member);
    if (this.ana) this.#reportAna(device.controller, ana);
    return {
      endpoint: device.endpoint,
      controller: device.controller,
      get functionResets() {
        return device.functionResets;
      },
      close,
      [Symbol.asyncDispose]: close,
    };
  }

  anaState(controllerId: number, group: number): AnaState {
    return this.#path(controllerId, group).state;
  }

  setAnaState(controllerId: number, group: number, state: AnaState): void {
    check(isAnaState(state), `unknown ANA state ${String(state)}`);
    const member = this.#members.get(controllerId);
    const path = this.#path(controllerId, group);
    if (path.state === state || !member) return;
    path.state = state;
    path.changeCount++;
    member.ana.changeCount++;
    const c = member.device.controller;
    if (c.namespaces.activeNamespaces().some((ns) => ns.anaGroupId === group)) {
      c.events.raise({
        type: AsyncEventType.Notice,
        info: NoticeEventInfo.AsymmetricNamespaceAccessChange,
        logPage: LogPageId.AsymmetricNamespaceAccess,
      });
    }
  }

  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all([...this.#members.values()].map((m) => m.close()));
    await this.#closeImages();
  }

  #closeImages(): Promise<void> {
    this.#imagesClosed ??= Promise.all(this.namespaces.map((ns) => ns.close())).then(() => {});
    return this.#imagesClosed;
  }

  #initialAna(states: Record<number, AnaState>): AnaPath {
    const path: AnaPath = { states: new Map(), changeCount: 0n };
    for (const [key, state] of Object.entries(states)) {
      const group = Number(key);
      check(this.ana !== undefined && Number.isInteger(group) && group >= 1 && group <= this.ana.groups, `anaStates: no ANA group ${key}`);
      check(isAnaState(state), `anaStates: unknown ANA state ${String(state)}`);
    }
    for (let g = 1; g <= (this.ana?.groups ?? 0); g++) path.states.set(g, { state: states[g] ?? 'optimized', changeCount: 0n });
    return path;
  }

  #path(controllerId: number, group: number): { state: AnaState; changeCount: bigint } {
    const member = this.#members.get(controllerId);
    check(member !== undefined, `no controller ${controllerId} in ${this.nqn}`);
    const path = member?.ana.states.get(group);
    check(path !== undefined, `no ANA group ${group} in ${this.nqn}`);
    return path as { state: AnaState; changeCount: bigint };
  }

  /** Log page 0Ch and the path statuses of I/O to a group this controller cannot reach. */
  #reportAna(c: NvmeController, ana: AnaPath): void {
    c.registerLogPage(LogPageId.AsymmetricNamespaceAccess, (req) => {
      const groups: AnaGroupView[] = [];
      for (const [id, { state, changeCount }] of ana.states) {
        const nsids = c.namespaces.activeIds().filter((nsid) => c.namespaces.get(nsid)?.anaGroupId === id);
        if (nsids.length > 0) groups.push({ id, state, changeCount, nsids });
      }
      return anaLogPage(ana.changeCount, groups, (req.lsp & 1) === 1);
    });
    c.intercept((ctx, next) => {
      const group = ctx.queue === 'io' ? ctx.namespace?.anaGroupId : undefined;
      const state = group ? ana.states.get(group)?.state : undefined;
      const status = state ? anaStatus(state) : undefined;
      // Not the host's mistake: the path is down, and the status tells the host to use another one.
      if (status !== undefined) throw new CommandError(status, `ANA group ${group} is ${state} on this controller`, false);
      return next();
    });
  }
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new RangeError(`NVM subsystem: ${message}`);
}

function firstFree(namespaces: readonly Namespace[]): number {
  let id = 1;
  while (namespaces.some((ns) => ns.nsid === id)) id++;
  return id;
}
