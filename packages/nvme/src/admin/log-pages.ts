import { CommandError } from '../command-error.ts';
import type { ControllerCore } from '../core.ts';
import { AdminOpcode, IoOpcode } from '../opcodes.ts';
import type { CommandResult, LogPageRequest } from '../registry.ts';
import { Status } from '../status.ts';
import { CSI_ZONED } from '../zns/zns-identify.ts';

/** Log page identifiers (NVMe 2.0 base §5.16, Figure 202). */
export const LogPageId = {
  SupportedLogPages: 0x00,
  ErrorInformation: 0x01,
  SmartHealth: 0x02,
  FirmwareSlot: 0x03,
  ChangedNamespaceList: 0x04,
  CommandsSupportedAndEffects: 0x05,
  DeviceSelfTest: 0x06,
  /** Provided by controllers of an NVM subsystem with ANA reporting (`createNvmeSubsystem`). */
  AsymmetricNamespaceAccess: 0x0c,
} as const;

const ZONED_ONLY_OPCODES = new Set<number>([IoOpcode.ZoneManagementSend, IoOpcode.ZoneManagementReceive, IoOpcode.ZoneAppend]);

/** Upper bound for one Get Log Page transfer when MDTS is unlimited. */
const MAX_LOG_TRANSFER = 16 << 20;

/** Built-in log pages and the Get Log Page command (§5.16). */
export function registerLogPages(core: ControllerCore): void {
  const pages = core.logPages;
  pages.set(LogPageId.ErrorInformation, () => core.errorLog.page());
  pages.set(LogPageId.SmartHealth, (req) => {
    if (req.nsid !== 0 && req.nsid !== 0xffffffff)
      throw new CommandError(Status.InvalidField, 'SMART log is controller scoped (LPA bit 0 = 0)');
    return core.health.page(core.errorLog.count);
  });
  pages.set(LogPageId.FirmwareSlot, () => {
    const out = new Uint8Array(512);
    out[0] = 0x01; // AFI: slot 1 active
    for (let i = 0; i < 8; i++) out[8 + i] = i < core.options.firmwareRevision.length ? core.options.firmwareRevision.charCodeAt(i) : 0x20;
    return out;
  });
  pages.set(LogPageId.ChangedNamespaceList, (req) => core.namespaces.changedLog(!req.rae));
  pages.set(LogPageId.CommandsSupportedAndEffects, (req) => {
    const out = new Uint8Array(4096);
    const v = new DataView(out.buffer);
    core.admin.effectsTable().forEach((e, i) => {
      v.setUint32(i * 4, e, true);
    });
    core.io.effectsTable().forEach((e, i) => {
      // Zone commands belong to the Zoned Namespace command set's page (CSI 02h) only.
      if (req.csi === CSI_ZONED || !ZONED_ONLY_OPCODES.has(i)) v.setUint32(1024 + i * 4, e, true);
    });
    return out;
  });
  pages.set(LogPageId.SupportedLogPages, () => {
    const out = new Uint8Array(1024);
    const v = new DataView(out.buffer);
    for (const lid of pages.keys()) v.setUint32(lid * 4, 1, true);
    return out;
  });

  core.admin.register(AdminOpcode.GetLogPage, 'Get Log Page', async (ctx): Promise<CommandResult> => {
    const { entry } = ctx;
    const lid = entry.cdw10 & 0xff;
    const req: LogPageRequest = {
      lid,
      nsid: entry.nsid,
      lsp: (entry.cdw10 >>> 8) & 0x7f,
      rae: ((entry.cdw10 >>> 15) & 1) === 1,
      lsi: entry.cdw11 >>> 16,
      csi: entry.cdw14 >>> 24,
    };
    const dwords = (((entry.cdw10 >>> 16) | ((entry.cdw11 & 0xffff) << 16)) >>> 0) + 1;
    const offset = Number((BigInt(entry.cdw13) << 32n) | BigInt(entry.cdw12));
    if ((entry.cdw14 >>> 23) & 1) throw new CommandError(Status.InvalidField, 'OT (index offset) not supported');
    if (req.csi !== 0 && !(req.csi === CSI_ZONED && core.options.zoned))
      throw new CommandError(Status.InvalidField, `log page CSI ${req.csi}`);
    if (offset % 4 !== 0) throw new CommandError(Status.InvalidField, `log page offset ${offset} not dword aligned`);
    const provider = pages.get(lid);
    if (!provider) throw new CommandError(Status.InvalidLogPage, `log page 0x${lid.toString(16)}`);
    const page = await provider(req);
    if (offset >= page.byteLength && dwords > 0)
      throw new CommandError(Status.InvalidField, `log page offset ${offset} ≥ ${page.byteLength}`);
    const length = dwords * 4;
    core.transfer.checkMdts(length);
    if (length > MAX_LOG_TRANSFER) throw new CommandError(Status.InvalidField, `log transfer of ${length} bytes`);
    const data = new Uint8Array(length);
    data.set(page.subarray(offset, Math.min(page.byteLength, offset + length)));
    await ctx.toHost(data);
    core.events.logRead(lid, req.rae);
    return {};
  });
}
