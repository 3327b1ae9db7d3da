import { CommandError } from '../command-error.ts';
import type { ControllerCore } from '../core.ts';
import {
  commandSetCombinations,
  controllerList,
  identifyController,
  identifyNamespace,
  idList,
  namespaceDescriptors,
  namespaceTemplate,
} from '../identify-data.ts';
import { AdminOpcode } from '../opcodes.ts';
import type { CommandResult } from '../registry.ts';
import { Status } from '../status.ts';
import { CSI_ZONED, identifyZonedController, identifyZonedNamespace } from '../zns/zns-identify.ts';

/** CNS values (NVMe 2.0 base §5.17, Figure 273). */
export const Cns = {
  Namespace: 0x00,
  Controller: 0x01,
  ActiveNamespaces: 0x02,
  NamespaceDescriptors: 0x03,
  CsiNamespace: 0x05,
  CsiController: 0x06,
  CsiActiveNamespaces: 0x07,
  AllocatedNamespaces: 0x10,
  AllocatedNamespace: 0x11,
  AttachedControllers: 0x12,
  AllControllers: 0x13,
  CommandSets: 0x1c,
} as const;

const BROADCAST = 0xffffffff;

/** Identify (§5.17). */
export function registerIdentify(core: ControllerCore): void {
  core.admin.register(AdminOpcode.Identify, 'Identify', async (ctx): Promise<CommandResult> => {
    const { entry } = ctx;
    const cns = entry.cdw10 & 0xff;
    const cntid = entry.cdw10 >>> 16;
    const csi = entry.cdw11 >>> 24;
    const nsid = entry.nsid;
    const ns = core.namespaces;
    const invalidNs = (): never => {
      throw new CommandError(Status.InvalidNamespaceOrFormat, `Identify CNS ${cns}: nsid ${nsid}`);
    };
    const validNsid = () => {
      if (nsid === 0 || (nsid > core.options.maxNamespaces && nsid !== BROADCAST)) invalidNs();
    };
    const zero = () => new Uint8Array(4096);
    let data: Uint8Array;
    switch (cns) {
      case Cns.Namespace: {
        validNsid();
        // An inactive but valid NSID returns zeroes (§5.17.2.1).
        const active = nsid === BROADCAST ? undefined : ns.active(nsid);
        data = active ? identifyNamespace(active) : nsid === BROADCAST ? namespaceTemplate() : zero();
        break;
      }
      case Cns.Controller:
        data = identifyController(core);
        break;
      case Cns.ActiveNamespaces:
      case Cns.CsiActiveNamespaces:
        if (nsid >= 0xfffffffe) invalidNs();
        if (cns === Cns.ActiveNamespaces) data = idList(ns.activeIds(), nsid);
        else if (csi === 0 || (csi === CSI_ZONED && core.options.zoned))
          // The namespaces of that command set: zoned ones are CSI 02h only.
          data = idList(
            ns.activeIds().filter((id) => (ns.active(id)?.zones !== undefined) === (csi === CSI_ZONED)),
            nsid,
          );
        else throw new CommandError(Status.InvalidField, `CSI ${csi}`);
        break;
      case Cns.NamespaceDescriptors: {
        const active = ns.active(nsid);
        if (!active) invalidNs();
        data = namespaceDescriptors(ns.active(nsid) as NonNullable<typeof active>);
        break;
      }
      case Cns.CsiNamespace:
        validNsid();
        if (csi === CSI_ZONED && core.options.zoned) {
          const active = ns.active(nsid);
          if (active && !active.zones) throw new CommandError(Status.InvalidField, `nsid ${nsid} is not zoned (CSI 2)`);
          data = active ? identifyZonedNamespace(active) : zero();
          break;
        }
        if (csi !== 0) throw new CommandError(Status.InvalidField, `CSI ${csi}`);
        data = zero(); // NVM command set specific namespace fields: none used (no PI, no ELBAs)
        break;
      case Cns.CsiController:
        if (csi === CSI_ZONED && core.options.zoned) {
          data = identifyZonedController(core.options);
          break;
        }
        if (csi !== 0) throw new CommandError(Status.InvalidField, `CSI ${csi}`);
        data = zero(); // NVM command set controller: no VSL/WZSL/DMRL limits
        break;
      case Cns.AllocatedNamespaces:
        if (!core.options.namespaceDirectory) throw new CommandError(Status.InvalidField, 'namespace management not supported');
        if (nsid >= 0xfffffffe) invalidNs();
        data = idList(ns.allocatedIds(), nsid);
        break;
      case Cns.AllocatedNamespace: {
        if (!core.options.namespaceDirectory) throw new CommandError(Status.InvalidField, 'namespace management not supported');
        validNsid();
        const any = ns.get(nsid);
        data = any ? identifyNamespace(any) : zero();
        break;
      }
      case Cns.AttachedControllers:
        if (!core.options.namespaceDirectory) throw new CommandError(Status.InvalidField, 'namespace management not supported');
        data = controllerList(ns.isAttached(nsid) ? [core.options.controllerId] : [], cntid);
        break;
      case Cns.AllControllers:
        if (!core.options.namespaceDirectory) throw new CommandError(Status.InvalidField, 'namespace management not supported');
        data = controllerList([core.options.controllerId], cntid);
        break;
      case Cns.CommandSets:
        data = commandSetCombinations(core.options.zoned);
        break;
      default:
        throw new CommandError(Status.InvalidField, `Identify CNS 0x${cns.toString(16)} not supported`);
    }
    await ctx.toHost(data);
    return {};
  });
}
