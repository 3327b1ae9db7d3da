import { CommandError } from '../command-error.ts';
import type { ControllerCore } from '../core.ts';
import { formatProblem, LBA_FORMATS, type LbaFormat, type NamespaceFormat, type ProtectionType } from '../lba-format.ts';
import { AdminOpcode, Effects } from '../opcodes.ts';
import type { CommandResult } from '../registry.ts';
import { Status } from '../status.ts';

const BROADCAST = 0xffffffff;

/** Namespace Management (NVMe 2.0 base §5.22) and Namespace Attachment (§5.21). */
export function registerNamespaceManagement(core: ControllerCore): void {
  if (!core.options.namespaceDirectory) return;
  const set = core.namespaces;

  core.admin.register(
    AdminOpcode.NamespaceManagement,
    'Namespace Management',
    async (ctx): Promise<CommandResult> => {
      const { entry } = ctx;
      const sel = entry.cdw10 & 0xf;
      if (sel === 0) {
        // Create: host data is an Identify Namespace structure (NSZE, NCAP, FLBAS, ...).
        if (entry.nsid !== 0) throw new CommandError(Status.InvalidField, 'create with NSID ≠ 0');
        const csi = entry.cdw11 >>> 24;
        if (csi !== 0) throw new CommandError(Status.InvalidField, `CSI ${csi}`);
        const data = await ctx.fromHost(4096);
        const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
        const nsze = v.getBigUint64(0, true);
        const ncap = v.getBigUint64(8, true);
        const flbas = v.getUint8(26);
        const dps = v.getUint8(29);
        const lbaf = (flbas & 0xf) | (((flbas >>> 5) & 3) << 4);
        const ms = LBA_FORMATS[lbaf]?.ms ?? 0;
        const format: NamespaceFormat = {
          lbaf,
          extended: ms > 0 && (flbas & 0x10) !== 0,
          pi: (dps & 7) as ProtectionType,
          piFirst: (dps & 8) !== 0,
        };
        const problem = formatProblem(format);
        if (problem) throw new CommandError(Status.InvalidFormat, `FLBAS ${flbas} DPS ${dps}: ${problem}`);
        if (nsze === 0n || ncap > nsze) throw new CommandError(Status.InvalidField, `NSZE ${nsze} / NCAP ${ncap}`);
        if (ncap !== nsze) throw new CommandError(Status.ThinProvisioningNotSupported, 'NCAP < NSZE');
        const bytes = nsze << BigInt((LBA_FORMATS[lbaf] as LbaFormat).lbads);
        const free = BigInt(core.options.totalCapacityBytes - set.allocatedBytes());
        if (bytes > free) throw new CommandError(Status.NamespaceInsufficientCapacity, `${bytes} bytes requested, ${free} free`);
        if (set.freeNsid() === undefined) throw new CommandError(Status.NamespaceIdUnavailable, 'no free NSID');
        const ns = await set.create(Number(bytes), format);
        return { dw0: ns.nsid };
      }
      if (sel === 1) {
        const ids = entry.nsid === BROADCAST ? set.allocatedIds() : [entry.nsid];
        if (entry.nsid !== BROADCAST && !set.get(entry.nsid)) {
          throw new CommandError(Status.InvalidField, `delete of unallocated nsid ${entry.nsid}`);
        }
        for (const id of ids) await set.delete(id);
        return {};
      }
      throw new CommandError(Status.InvalidField, `Namespace Management SEL ${sel}`);
    },
    Effects.NamespaceInventoryChange | Effects.ExclusiveController,
  );

  core.admin.register(
    AdminOpcode.NamespaceAttachment,
    'Namespace Attachment',
    async (ctx): Promise<CommandResult> => {
      const { entry } = ctx;
      const sel = entry.cdw10 & 0xf;
      if (sel > 1) throw new CommandError(Status.InvalidField, `Namespace Attachment SEL ${sel}`);
      if (entry.nsid === 0 || entry.nsid === BROADCAST || !set.get(entry.nsid)) {
        throw new CommandError(Status.InvalidField, `attachment of nsid ${entry.nsid}`);
      }
      const data = await ctx.fromHost(4096);
      const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
      const count = v.getUint16(0, true);
      const ids = Array.from({ length: Math.min(count, 2047) }, (_, i) => v.getUint16(2 + i * 2, true));
      if (count === 0 || ids.some((id) => id !== core.options.controllerId)) {
        throw new CommandError(Status.ControllerListInvalid, `controller list ${ids.join(',')}`);
      }
      if (sel === 0) {
        if (set.isAttached(entry.nsid)) throw new CommandError(Status.NamespaceAlreadyAttached, `nsid ${entry.nsid}`);
        set.attach(entry.nsid);
      } else {
        if (!set.isAttached(entry.nsid)) throw new CommandError(Status.NamespaceNotAttached, `nsid ${entry.nsid}`);
        set.detach(entry.nsid);
      }
      return {};
    },
    Effects.NamespaceInventoryChange | Effects.ExclusiveController,
  );
}
