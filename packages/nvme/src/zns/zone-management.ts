import { CommandError } from '../command-error.ts';
import type { ControllerCore } from '../core.ts';
import { requireRange } from '../io/common.ts';
import { Effects, IoOpcode } from '../opcodes.ts';
import type { CommandResult } from '../registry.ts';
import { Status } from '../status.ts';
import { requireZoned } from './common.ts';
import { type ZoneDescriptor, ZoneSendAction, ZoneState } from './zone-table.ts';

const SEND_ACTIONS = new Set<number>(Object.values(ZoneSendAction));
/** Zone Receive Action Specific Field filters (ZNS §3.4.2, CDW13 bits 15:8), by value. */
const REPORT_FILTERS: readonly (number | undefined)[] = [
  undefined, // 0h: all zones
  ZoneState.Empty,
  ZoneState.ImplicitlyOpened,
  ZoneState.ExplicitlyOpened,
  ZoneState.Closed,
  ZoneState.Full,
  ZoneState.ReadOnly,
  ZoneState.Offline,
];
const DESCRIPTOR_BYTES = 64;
/** Zone Type 2h: Sequential Write Required. */
const SEQUENTIAL_WRITE_REQUIRED = 0x2;

/** Zone Management Send (79h) and Receive (7Ah), ZNS §3.4.3 and §3.4.2. */
export function registerZoneManagement(core: ControllerCore): void {
  core.io.register(
    IoOpcode.ZoneManagementSend,
    'Zone Management Send',
    async (ctx): Promise<CommandResult> => {
      const { ns, zones } = requireZoned(ctx);
      const action = ctx.entry.cdw13 & 0xff;
      const selectAll = ((ctx.entry.cdw13 >>> 8) & 1) === 1;
      // 10h Set Zone Descriptor Extension needs ZDES > 0, which no LBA format reports.
      if (!SEND_ACTIONS.has(action)) throw new CommandError(Status.InvalidField, `Zone Send Action 0x${action.toString(16)}`);
      const act = action as (typeof ZoneSendAction)[keyof typeof ZoneSendAction];
      let targets: number[];
      if (selectAll) targets = zones.selectAll(act);
      else {
        const slba = ctx.entry.qw10;
        requireRange(ns, slba, 1);
        const z = zones.zoneOf(Number(slba));
        if (Number(slba) !== z * zones.zoneBlocks) throw new CommandError(Status.InvalidField, `SLBA ${slba} is not a zone start`);
        targets = [z];
      }
      if (act === ZoneSendAction.Reset) {
        // Deallocate before the write pointer moves back, so no new write to the zone can be punched away.
        for (const z of targets) {
          const d = zones.zone(z) as ZoneDescriptor;
          const resettable = d.state !== ZoneState.ReadOnly && d.state !== ZoneState.Offline;
          if (resettable && d.writePointer > d.zslba) await ns.deallocate(BigInt(d.zslba), d.writePointer - d.zslba);
        }
      }
      let changed = false;
      for (const z of targets) changed = zones.apply(act, z) || changed;
      if (changed) await ns.persistZones();
      return {};
    },
    Effects.LbaContentChange,
  );

  core.io.register(IoOpcode.ZoneManagementReceive, 'Zone Management Receive', async (ctx): Promise<CommandResult> => {
    const { ns, zones } = requireZoned(ctx);
    const bytes = (ctx.entry.cdw12 + 1) * 4;
    const action = ctx.entry.cdw13 & 0xff;
    const filterCode = (ctx.entry.cdw13 >>> 8) & 0xff;
    const partial = ((ctx.entry.cdw13 >>> 16) & 1) === 1;
    core.transfer.checkMdts(bytes);
    // 01h Extended Report Zones needs zone descriptor extensions (ZDES = 0 here).
    if (action !== 0) throw new CommandError(Status.InvalidField, `Zone Receive Action 0x${action.toString(16)}`);
    if (filterCode >= REPORT_FILTERS.length)
      throw new CommandError(Status.InvalidField, `Zone Receive Action Specific Field ${filterCode}`);
    const slba = ctx.entry.qw10;
    requireRange(ns, slba, 1);
    const filter = REPORT_FILTERS[filterCode];
    // The data past the last descriptor is left as it was: no buffer bigger than the report.
    const out = new Uint8Array(Math.min(bytes, DESCRIPTOR_BYTES * (zones.count + 1)));
    const v = new DataView(out.buffer);
    const room = Math.max(0, Math.floor((bytes - DESCRIPTOR_BYTES) / DESCRIPTOR_BYTES));
    let matching = 0;
    for (let z = zones.zoneOf(Number(slba)); z < zones.count; z++) {
      const d = zones.zone(z) as ZoneDescriptor;
      if (filter !== undefined && d.state !== filter) continue;
      if (matching < room) writeDescriptor(v, DESCRIPTOR_BYTES * (matching + 1), d);
      matching++;
      if (partial && matching === room) break;
    }
    // Number of Zones: those in the data (partial report) or all that match from SLBA on.
    if (out.byteLength >= 8) v.setBigUint64(0, BigInt(partial ? Math.min(matching, room) : matching), true);
    await ctx.toHost(out);
    return {};
  });
}

/** Zone Descriptor (ZNS §3.4.2.2.3, Figure 37). */
function writeDescriptor(v: DataView, at: number, d: ZoneDescriptor): void {
  v.setUint8(at, SEQUENTIAL_WRITE_REQUIRED);
  v.setUint8(at + 1, d.state << 4);
  v.setBigUint64(at + 8, BigInt(d.capacity), true);
  v.setBigUint64(at + 16, BigInt(d.zslba), true);
  // The write pointer is not valid in Read Only and Offline zones; a Full zone's is at its capacity.
  const invalid = d.state === ZoneState.ReadOnly || d.state === ZoneState.Offline;
  v.setBigUint64(at + 24, invalid ? 0xffffffffffffffffn : BigInt(d.writePointer), true);
}
