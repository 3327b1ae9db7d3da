/** Boot failures are reported, not hung: a missing vfio-user server, a QEMU that cannot start. */
import { join } from 'node:path';
import { topology, vfioUser } from '@p2pkit/fabric';
import { BootError, boot, defineScenario } from '@p2pkit/testbed';

/** The rejection of `p`, or undefined when it resolved (then the guest is shut down again). */
async function rejection(p: Promise<{ shutdown(): Promise<void> }>): Promise<unknown> {
  return p.then(
    async (guest) => {
      await guest.shutdown();
      return undefined;
    },
    (e: unknown) => e,
  );
}

export default defineScenario({
  name: 'testbed: boot failures are reported',
  // No topology: nothing is booted for the scenario, its steps call boot() themselves.
  steps: {
    'refuses a vfio-user device whose server socket does not exist': async (ctx) => {
      const t = topology().rootPort('rp0', (rp) => rp.attach(vfioUser({ socket: '/nonexistent/p2pkit-dev.sock' })));
      const err = await rejection(boot(t, { provisioned: ctx.provisioned, runDir: join(ctx.outDir, 'missing-socket') }));
      ctx.match('error', String(err), /p2pkit-dev\.sock .* does not exist/);
    },

    'surfaces QEMU errors from qemu.log when QEMU cannot start': async (ctx) => {
      const err = await rejection(
        boot(topology(), {
          provisioned: ctx.provisioned,
          extraArgs: ['-device', 'no-such-device'],
          runDir: join(ctx.outDir, 'bad-device'),
        }),
      );
      ctx.check('BootError', err instanceof BootError, String(err));
      ctx.match('QEMU exited, with its complaint', String(err), /QEMU exited[\s\S]*no-such-device/);
    },
  },
});
