import { CommandError } from '../command-error.ts';
import { requireNamespace } from '../io/common.ts';
import type { Namespace } from '../namespace.ts';
import type { CommandContext } from '../registry.ts';
import { Status } from '../status.ts';
import type { ZoneTable } from './zone-table.ts';

/** The command's active zoned namespace; a zone command to a conventional one is Invalid Opcode. */
export function requireZoned(ctx: CommandContext): { ns: Namespace; zones: ZoneTable } {
  const ns = requireNamespace(ctx);
  const zones = ns.zones;
  if (!zones) throw new CommandError(Status.InvalidOpcode, `opcode 0x${ctx.entry.opcode.toString(16)}: nsid ${ns.nsid} is not zoned`);
  return { ns, zones };
}
