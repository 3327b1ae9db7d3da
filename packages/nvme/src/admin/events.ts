import type { ControllerCore } from '../core.ts';
import { AdminOpcode } from '../opcodes.ts';
import { type CommandOutcome, type CommandResult, Deferred } from '../registry.ts';

/** Asynchronous Event Request (§5.2), Abort (§5.1) and Keep Alive (§5.24). */
export function registerEventCommands(core: ControllerCore): void {
  core.admin.register(AdminOpcode.AsyncEventRequest, 'Asynchronous Event Request', (ctx): CommandOutcome => {
    const refused = core.events.request(ctx);
    return refused ?? Deferred;
  });

  core.admin.register(AdminOpcode.Abort, 'Abort', (): CommandResult => {
    // Commands run to completion without a cancellation point: report "not aborted"
    // (DW0 bit 0 = 1), as QEMU does. Abort itself completes at once, so ACL is never exceeded.
    return { dw0: 1 };
  });

  core.admin.register(AdminOpcode.KeepAlive, 'Keep Alive', (): CommandResult => ({}));
}
