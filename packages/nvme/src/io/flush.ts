import { CommandError } from '../command-error.ts';
import type { ControllerCore } from '../core.ts';
import { IoOpcode } from '../opcodes.ts';
import type { CommandResult } from '../registry.ts';
import { Status } from '../status.ts';

/** Flush (NVM command set §3.2.4 / base §7.1): fdatasync; NSID FFFFFFFFh flushes all (VWC.FB = 11b). */
export function registerFlush(core: ControllerCore): void {
  core.io.register(IoOpcode.Flush, 'Flush', async (ctx): Promise<CommandResult> => {
    const nsid = ctx.entry.nsid;
    if (nsid === 0xffffffff) {
      await Promise.all(core.namespaces.activeNamespaces().map((ns) => ns.flush()));
      return {};
    }
    const ns = ctx.namespace;
    if (!ns) throw new CommandError(Status.InvalidNamespaceOrFormat, `flush of nsid ${nsid}`);
    await ns.flush();
    return {};
  });
}
