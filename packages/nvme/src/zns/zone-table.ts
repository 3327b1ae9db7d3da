/**
 * The zones of a zoned namespace (ZNS command set §2.1): state machine, write pointers and the
 * active/open resource accounting. Everything here is synchronous, so a command checks and moves a
 * write pointer before its first await: commands to one zone take write-pointer positions in the
 * order they are executed, whatever their data transfers do afterwards.
 */
import { CommandError } from '../command-error.ts';
import { Status } from '../status.ts';
import type { ZoneGeometry } from './zoned-options.ts';

/** Zone states, as in the Zone State field of a Zone Descriptor (ZNS §2.1.1, §3.4.2.2.3). */
export const ZoneState = {
  Empty: 0x1,
  ImplicitlyOpened: 0x2,
  ExplicitlyOpened: 0x3,
  Closed: 0x4,
  ReadOnly: 0xd,
  Full: 0xe,
  Offline: 0xf,
} as const;
export type ZoneStateValue = (typeof ZoneState)[keyof typeof ZoneState];

/** Zone Send Action values of Zone Management Send (ZNS §3.4.3, CDW13 bits 7:0). */
export const ZoneSendAction = { Close: 0x1, Finish: 0x2, Open: 0x3, Reset: 0x4, Offline: 0x5 } as const;
type ZoneSendActionValue = (typeof ZoneSendAction)[keyof typeof ZoneSendAction];

/** One zone as Zone Management Receive reports it; LBAs in the namespace's current format. */
export interface ZoneDescriptor {
  state: ZoneStateValue;
  /** Zone Start LBA. */
  zslba: number;
  /** Zone capacity in logical blocks. */
  capacity: number;
  /** Write pointer (an LBA); meaningful in the Empty, opened and Closed states. */
  writePointer: number;
}

const isOpen = (s: number) => s === ZoneState.ImplicitlyOpened || s === ZoneState.ExplicitlyOpened;
const isActive = (s: number) => isOpen(s) || s === ZoneState.Closed;

/** Zones each select-all action applies to (ZNS §3.4.3, "Select All"). */
const SELECT_ALL_FROM: Record<ZoneSendActionValue, readonly number[]> = {
  [ZoneSendAction.Close]: [ZoneState.ImplicitlyOpened, ZoneState.ExplicitlyOpened],
  [ZoneSendAction.Finish]: [ZoneState.ImplicitlyOpened, ZoneState.ExplicitlyOpened, ZoneState.Closed],
  [ZoneSendAction.Open]: [ZoneState.Closed],
  [ZoneSendAction.Reset]: [ZoneState.ImplicitlyOpened, ZoneState.ExplicitlyOpened, ZoneState.Closed, ZoneState.Full],
  [ZoneSendAction.Offline]: [ZoneState.ReadOnly],
};

/** The persistent part of a zone table: one state and one write-pointer offset (bytes) per zone. */
export interface ZoneTableImage {
  states: Uint8Array;
  writtenBytes: Float64Array;
}

function zoneError(status: number, message: string): never {
  throw new CommandError(status, message);
}

export class ZoneTable {
  /** Number of zones. */
  readonly count: number;
  private readonly states: Uint8Array;
  /** Write pointer of each zone as a byte offset from its start, so a Format keeps it meaningful. */
  private readonly writtenBytes: Float64Array;
  /** Implicitly opened zones, least recently opened first: the ones an implicit close picks. */
  private readonly implicitlyOpened = new Set<number>();
  private openCount = 0;
  private activeCount = 0;
  /** Bumped by every change, so the sidecar writer knows what it has made durable. */
  version = 0;

  constructor(
    readonly geometry: ZoneGeometry,
    sizeBytes: number,
    private readonly lbaShift: () => number,
    image?: ZoneTableImage,
  ) {
    this.count = sizeBytes / geometry.zoneSizeBytes;
    this.states = new Uint8Array(this.count).fill(ZoneState.Empty);
    this.writtenBytes = new Float64Array(this.count);
    if (image) this.load(image);
  }

  /** Zone size (ZSZE) in logical blocks. */
  get zoneBlocks(): number {
    return this.geometry.zoneSizeBytes / 2 ** this.lbaShift();
  }
  /** Zone capacity (ZCAP) in logical blocks. */
  get capacityBlocks(): number {
    return this.geometry.zoneCapacityBytes / 2 ** this.lbaShift();
  }
  /** Zones in the opened states / in the opened or Closed states. */
  get open(): number {
    return this.openCount;
  }
  get active(): number {
    return this.activeCount;
  }

  zoneOf(lba: number): number {
    return Math.floor(lba / this.zoneBlocks);
  }

  /** Zone `index` as reported, or undefined past the last zone. */
  zone(index: number): ZoneDescriptor | undefined {
    const state = this.states[index] as ZoneStateValue | undefined;
    if (state === undefined) return undefined;
    const zslba = index * this.zoneBlocks;
    const writePointer = zslba + this.writtenBytes[index]! / 2 ** this.lbaShift();
    return { state, zslba, capacity: this.capacityBlocks, writePointer };
  }

  /** Read, Compare, Verify of [slba, slba + nlb): no offline zone, no crossing unless RAZB. */
  checkRead(slba: number, nlb: number): void {
    const first = this.zoneOf(slba);
    const last = this.zoneOf(slba + nlb - 1);
    if (first !== last && !this.geometry.readAcrossZoneBoundaries)
      zoneError(Status.ZoneBoundaryError, `read of LBA ${slba}+${nlb} crosses a zone boundary (RAZB = 0)`);
    for (let z = first; z <= last; z++)
      if (this.states[z] === ZoneState.Offline) zoneError(Status.ZoneIsOffline, `read of LBA ${slba}+${nlb}: zone ${z} is offline`);
  }

  /** Write, Write Zeroes, Copy to [slba, slba + nlb): only at the write pointer (ZNS §2.1.1.2). */
  reserveWrite(slba: number, nlb: number): void {
    const z = this.zoneOf(slba);
    this.writable(z, slba, nlb);
    if (slba !== this.zone(z)!.writePointer)
      zoneError(Status.ZoneInvalidWrite, `write at LBA ${slba}: zone ${z} write pointer is ${this.zone(z)!.writePointer}`);
    this.advance(z, slba, nlb);
  }

  /** Zone Append of `nlb` blocks to the zone starting at `zslba`; returns the LBA the data goes to. */
  reserveAppend(zslba: number, nlb: number): number {
    const z = this.zoneOf(zslba);
    if (z >= this.count || zslba % this.zoneBlocks !== 0) zoneError(Status.InvalidField, `Zone Append: ZSLBA ${zslba} is not a zone start`);
    const lba = this.zone(z)!.writePointer;
    this.writable(z, lba, nlb);
    this.advance(z, lba, nlb);
    return lba;
  }

  /** Checks every rule of a write at `lba` in zone `z` except the write-pointer position. */
  private writable(z: number, lba: number, nlb: number): void {
    const state = this.states[z];
    if (state === ZoneState.Full) zoneError(Status.ZoneIsFull, `write to zone ${z}: full`);
    if (state === ZoneState.ReadOnly) zoneError(Status.ZoneIsReadOnly, `write to zone ${z}: read-only`);
    if (state === ZoneState.Offline) zoneError(Status.ZoneIsOffline, `write to zone ${z}: offline`);
    const end = z * this.zoneBlocks + this.capacityBlocks;
    if (lba + nlb > end) zoneError(Status.ZoneBoundaryError, `write of LBA ${lba}+${nlb} passes the end of zone ${z}'s capacity (${end})`);
  }

  /** Moves the write pointer, implicitly opening the zone first and making it Full at its capacity. */
  private advance(z: number, lba: number, nlb: number): void {
    const state = this.states[z];
    if (state === ZoneState.Empty || state === ZoneState.Closed) {
      this.acquire(z, state === ZoneState.Empty);
      this.setState(z, ZoneState.ImplicitlyOpened);
    } else if (state === ZoneState.ImplicitlyOpened) {
      // Most recently used: the last candidate for an implicit close.
      this.implicitlyOpened.delete(z);
      this.implicitlyOpened.add(z);
    }
    const bytes = 2 ** this.lbaShift();
    this.writtenBytes[z] = (lba + nlb - z * this.zoneBlocks) * bytes;
    this.version++;
    if (this.writtenBytes[z] === this.geometry.zoneCapacityBytes) this.setState(z, ZoneState.Full);
  }

  /**
   * Takes an open resource (and an active one when `activate`) for zone `z`. With every open
   * resource in use, the least recently used implicitly opened zone is closed (ZNS §2.1.1.4.1);
   * with none to close the command fails.
   */
  private acquire(z: number, activate: boolean): void {
    const { maxActiveZones, maxOpenZones } = this.geometry;
    if (activate && maxActiveZones !== undefined && this.activeCount >= maxActiveZones)
      zoneError(Status.TooManyActiveZones, `zone ${z}: ${this.activeCount} zones active (MAR + 1 = ${maxActiveZones})`);
    if (maxOpenZones !== undefined && this.openCount >= maxOpenZones) {
      const victim = this.implicitlyOpened.values().next().value;
      if (victim === undefined || victim === z)
        zoneError(Status.TooManyOpenZones, `zone ${z}: ${this.openCount} zones explicitly open (MOR + 1 = ${maxOpenZones})`);
      this.setState(victim, ZoneState.Closed);
    }
  }

  private setState(z: number, next: ZoneStateValue): void {
    const old = this.states[z]!;
    this.openCount += Number(isOpen(next)) - Number(isOpen(old));
    this.activeCount += Number(isActive(next)) - Number(isActive(old));
    if (old === ZoneState.ImplicitlyOpened) this.implicitlyOpened.delete(z);
    if (next === ZoneState.ImplicitlyOpened) this.implicitlyOpened.add(z);
    if (next === ZoneState.Empty) this.writtenBytes[z] = 0;
    if (next === ZoneState.Full) this.writtenBytes[z] = this.geometry.zoneCapacityBytes;
    this.states[z] = next;
    this.version++;
  }

  /**
   * Zone Management Send `action` on zone `z` (ZNS §3.4.3, Figure 37 transitions). Returns
   * whether the zone changed; an action the zone's state does not allow is Invalid Zone State
   * Transition. Reset only updates the state: the caller deallocates the data first.
   */
  apply(action: ZoneSendActionValue, z: number): boolean {
    const state = this.states[z]!;
    const invalid = () => zoneError(Status.InvalidZoneStateTransition, `zone ${z}: action ${action} from state 0x${state.toString(16)}`);
    switch (action) {
      case ZoneSendAction.Open:
        if (state === ZoneState.ExplicitlyOpened) return false;
        if (state === ZoneState.Empty || state === ZoneState.Closed) this.acquire(z, state === ZoneState.Empty);
        else if (state !== ZoneState.ImplicitlyOpened) invalid();
        this.setState(z, ZoneState.ExplicitlyOpened);
        return true;
      case ZoneSendAction.Close:
        if (state === ZoneState.Closed) return false;
        if (!isOpen(state)) invalid();
        this.setState(z, this.writtenBytes[z] === 0 ? ZoneState.Empty : ZoneState.Closed);
        return true;
      case ZoneSendAction.Finish:
        if (state === ZoneState.Full) return false;
        if (!isActive(state) && state !== ZoneState.Empty) invalid();
        this.setState(z, ZoneState.Full);
        return true;
      case ZoneSendAction.Reset:
        if (state === ZoneState.Empty) return false;
        if (!isActive(state) && state !== ZoneState.Full) invalid();
        this.setState(z, ZoneState.Empty);
        return true;
      case ZoneSendAction.Offline:
        if (state === ZoneState.Offline) return false;
        if (state !== ZoneState.ReadOnly) invalid();
        this.setState(z, ZoneState.Offline);
        return true;
    }
  }

  /**
   * The zones a Select All `action` applies to. Open is all or nothing: when the Closed zones do not
   * all fit in the open resources left, the command fails before any zone changes.
   */
  selectAll(action: ZoneSendActionValue): number[] {
    const from = SELECT_ALL_FROM[action];
    const zones: number[] = [];
    for (let z = 0; z < this.count; z++) if (from.includes(this.states[z]!)) zones.push(z);
    const { maxOpenZones } = this.geometry;
    const explicit = this.openCount - this.implicitlyOpened.size;
    if (action === ZoneSendAction.Open && maxOpenZones !== undefined && explicit + zones.length > maxOpenZones)
      zoneError(Status.TooManyOpenZones, `open all: ${zones.length} closed zones, ${maxOpenZones - explicit} open resources`);
    return zones;
  }

  /** Simulates a media condition: the zone becomes Read Only or Offline (releasing its resources). */
  setCondition(z: number, condition: 'read-only' | 'offline'): void {
    if (!Number.isInteger(z) || z < 0 || z >= this.count) throw new RangeError(`zone ${z} is not 0..${this.count - 1}`);
    this.setState(z, condition === 'read-only' ? ZoneState.ReadOnly : ZoneState.Offline);
  }

  /** Every zone Empty (Format NVM erased the data). */
  resetAll(): void {
    for (let z = 0; z < this.count; z++) this.setState(z, ZoneState.Empty);
  }

  /** A copy of the persistent state. */
  image(): ZoneTableImage {
    return { states: this.states.slice(), writtenBytes: this.writtenBytes.slice() };
  }

  /**
   * Restores a saved image. Opened zones come back Closed (or Empty when nothing was written), as
   * after a power cycle: open resources belong to the controller that ran before.
   */
  private load(image: ZoneTableImage): void {
    for (let z = 0; z < this.count; z++) {
      const state = image.states[z] as ZoneStateValue;
      this.writtenBytes[z] = image.writtenBytes[z]!;
      if (isOpen(state)) this.setState(z, image.writtenBytes[z] === 0 ? ZoneState.Empty : ZoneState.Closed);
      else this.setState(z, state);
    }
  }
}
