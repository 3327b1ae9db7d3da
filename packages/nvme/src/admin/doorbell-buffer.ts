import { CommandError } from '../command-error.ts';
import type { ControllerCore } from '../core.ts';
import { AdminOpcode } from '../opcodes.ts';
import type { CommandResult } from '../registry.ts';
import { Status } from '../status.ts';

/**
 * Doorbell Buffer Config (NVMe 2.0 base §5.8): PRP1 = shadow doorbells, PRP2 = EventIdx, both page
 * aligned. Existing I/O queues get their shadow slots seeded with the controller's current values.
 */
export function registerDoorbellBuffer(core: ControllerCore): void {
  if (core.options.doorbellStrategy === 'mmio') return;
  core.admin.register(AdminOpcode.DoorbellBufferConfig, 'Doorbell Buffer Config', async (ctx): Promise<CommandResult> => {
    const ps = BigInt(core.pageSize());
    const { prp1, prp2 } = ctx.entry;
    if (ctx.entry.psdt !== 0) throw new CommandError(Status.InvalidField, 'Doorbell Buffer Config requires PRPs');
    if (prp1 === 0n || prp2 === 0n || prp1 % ps !== 0n || prp2 % ps !== 0n) {
      throw new CommandError(Status.InvalidField, `doorbell buffers 0x${prp1.toString(16)} / 0x${prp2.toString(16)} not page aligned`);
    }
    core.shadow.configure(prp1, prp2);
    const { sqs, cqs } = core.queues.ioQueues();
    for (const sq of sqs) await core.shadow.seed(sq.id, sq.tail, undefined);
    for (const cq of cqs) await core.shadow.seed(cq.id, undefined, cq.head);
    await core.queues.shadowConfigured();
    return {};
  });
}
