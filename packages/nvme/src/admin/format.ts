import { CommandError } from '../command-error.ts';
import type { ControllerCore } from '../core.ts';
import { formatProblem, LBA_FORMATS, type NamespaceFormat, type ProtectionType } from '../lba-format.ts';
import type { Namespace } from '../namespace.ts';
import { AdminOpcode, Effects } from '../opcodes.ts';
import type { CommandResult } from '../registry.ts';
import { Status } from '../status.ts';
import { formattingNamespaces } from './device-self-test.ts';

/** Format NVM (NVMe 2.0 base §5.23; NVM command set §4.1): LBA format, metadata layout (MSET)
 * and protection information (PI, PIL) change; user data and metadata erased. */
export function registerFormat(core: ControllerCore): void {
  core.admin.register(
    AdminOpcode.FormatNvm,
    'Format NVM',
    async (ctx): Promise<CommandResult> => {
      const { entry } = ctx;
      const lbaf = (entry.cdw10 & 0xf) | (((entry.cdw10 >>> 12) & 3) << 4);
      const mset = (entry.cdw10 >>> 4) & 1;
      const pi = (entry.cdw10 >>> 5) & 7;
      const pil = (entry.cdw10 >>> 8) & 1;
      const ses = (entry.cdw10 >>> 9) & 7;
      const ms = LBA_FORMATS[lbaf]?.ms ?? 0;
      const format: NamespaceFormat = { lbaf, extended: ms > 0 && mset === 1, pi: pi as ProtectionType, piFirst: pil === 1 };
      const problem = formatProblem(format);
      if (problem) throw new CommandError(Status.InvalidFormat, problem);
      if (ses > 1) throw new CommandError(Status.InvalidField, `secure erase setting ${ses} not supported`);
      let targets: Namespace[];
      if (entry.nsid === 0xffffffff) targets = core.namespaces.activeNamespaces();
      else {
        const ns = core.namespaces.active(entry.nsid);
        if (!ns) throw new CommandError(Status.InvalidNamespaceOrFormat, `format of nsid ${entry.nsid}`);
        targets = [ns];
      }
      formattingNamespaces(core, targets);
      for (const ns of targets) await ns.reformat(format);
      return {};
    },
    Effects.LbaContentChange | Effects.NamespaceCapabilityChange | Effects.ExclusiveController,
  );
}
