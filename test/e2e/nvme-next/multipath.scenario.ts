/**
 * NVMe multipath with ANA: two p2pkit controllers of one NVM subsystem, each on its own root port,
 * sharing one namespace. The guest's native NVMe multipath (nvme_core multipath=Y) makes one head
 * with two paths; fio verify keeps running while one path goes inaccessible and comes back, and
 * while the current path is drained through ANA and its controller's server stopped. Checked: what nvme-cli, sysfs and fio reported, and
 * which controller served the I/O.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { topology } from '@p2pkit/fabric';
import { createNvmeSubsystem, IoOpcode, type NvmeDevice, type NvmeSubsystem } from '@p2pkit/nvme';
import { defineScenario, parseKeyValues as kv, type ScenarioContext } from '@p2pkit/testbed';

const NQN = 'nqn.2019-08.org.p2pkit:multipath';
const NS_BYTES = 256 << 20;
/** Where the end-of-scenario data check writes, away from fio's first 64 MiB. */
const BLOB = { offset: 128 << 20, bytes: 8 << 20 };

type Devices = { nvmeA: NvmeDevice; nvmeB: NvmeDevice };
/** The subsystem of the current boot (the factory runs once per boot). */
let subsystem: NvmeSubsystem | undefined;

/**
 * Guest helpers: the subsystem by NQN, its multipath head, a controller by CNTLID, and the ANA state
 * of that controller's path (the hidden nvmeXcYn1 disk under the controller).
 */
const SH = `
NQN=${NQN}
subsys() { for s in /sys/class/nvme-subsystem/nvme-subsys*; do [ "$(cat $s/subsysnqn 2>/dev/null)" = "$NQN" ] && { echo \${s##*/}; return 0; }; done; return 1; }
head_dev() { s=$(subsys) && echo /dev/$(ls /sys/class/nvme-subsystem/$s | grep -E '^nvme[0-9]+n1$'); }
ctrl() { s=$(subsys) || return 1; for c in /sys/class/nvme-subsystem/$s/nvme*; do [ -e $c/cntlid ] && [ "$(cat $c/cntlid)" = "$1" ] && { echo \${c##*/}; return 0; }; done; return 1; }
ana() { c=$(ctrl $1) && cat /sys/class/nvme/$c/nvme*c*n1/ana_state 2>/dev/null; }
`;

/** fio write + crc32c verify on the head: writes throttled so host-side path changes land mid-job. */
const FIO = (out: string) =>
  `fio --name=mpath --filename=$(head_dev) --direct=1 --ioengine=libaio --iodepth=8 --rw=randwrite --bs=64k --size=64M \\
     --rate=,4m --verify=crc32c --do_verify=1 --verify_fatal=1 --output-format=terse --terse-version=3 > $JOB_OUT/${out}`;

const writes = (d: NvmeDevice) => d.controller.stats.ioCommands[IoOpcode.Write] ?? 0;

/** Polls `condition` every 100 ms for up to `ms`; true once it held. */
async function until(condition: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (condition()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return condition();
}

/** fio's terse v3 line: field 5 errors, field 47 KiB written, field 6 KiB read (the verify pass). */
function fioChecks(ctx: ScenarioContext<Devices>, terse: Buffer | undefined, what: string): void {
  const f = (terse ?? Buffer.alloc(0)).toString().trim().split(';');
  ctx.equal(`${what}: fio errors`, Number(f[4]), 0);
  ctx.equal(`${what}: KiB written`, Number(f[46]), 64 * 1024);
  ctx.equal(`${what}: KiB verified`, Number(f[5]), 64 * 1024);
}

export default defineScenario<Devices>({
  name: 'NVMe multipath with ANA',
  description: 'two p2pkit controllers of one subsystem, one shared namespace: ANA failover and a stopped server under fio verify',
  topology: topology()
    .rootPort('rp0', (rp) => rp.attach('nvmeA'))
    .rootPort('rp1', (rp) => rp.attach('nvmeB')),
  devices: async ({ dir }) => {
    const s = await createNvmeSubsystem({
      nqn: NQN,
      serial: 'P2PKIT-MPATH',
      model: 'p2pkit NVMe multipath',
      namespaces: [{ path: join(dir, 'shared.img'), sizeBytes: NS_BYTES }],
    });
    subsystem = s;
    return {
      nvmeA: await s.controller({ controllerId: 1, maxIoQueues: 4 }),
      nvmeB: await s.controller({ controllerId: 2, maxIoQueues: 4 }),
    };
  },
  // One head, two hidden path disks: the step below waits for both paths itself. A short I/O timeout
  // bounds how long requests sit on a controller whose server is gone before they fail over.
  guest: { cpus: 2, waitForNvme: 1, kernelArgs: ['nvme_core.io_timeout=8', 'nvme_core.admin_timeout=8'] },
  steps: {
    'one multipath head, two live optimized paths: nvme list-subsys, id-ctrl CMIC/ANA, id-ns NMIC/ANAGRPID': async (ctx) => {
      const r = await ctx.guest.run(
        `${SH}
         i=0; while [ "$(ana 1)$(ana 2)" != optimizedoptimized ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
         s=$(subsys); h=$(head_dev); a=$(ctrl 1); b=$(ctrl 2)
         echo "multipath=$(cat /sys/module/nvme_core/parameters/multipath)"
         echo "heads=$(ls /sys/class/nvme-subsystem/$s | grep -cE '^nvme[0-9]+n[0-9]+$')"
         echo "ctrls=$(for c in /sys/class/nvme-subsystem/$s/nvme*; do [ -e $c/cntlid ] && echo $c; done | wc -l)"
         echo "paths=$(ls /sys/block/$(basename $h)/multipath | wc -l)"
         echo "state_a=$(cat /sys/class/nvme/$a/state)"; echo "state_b=$(cat /sys/class/nvme/$b/state)"
         echo "ana_a=$(ana 1)"; echo "ana_b=$(ana 2)"
         echo "same_serial=$([ "$(cat /sys/class/nvme/$a/serial)" = "$(cat /sys/class/nvme/$b/serial)" ] && echo yes || echo no)"
         echo round-robin > /sys/class/nvme-subsystem/$s/iopolicy
         echo "iopolicy=$(cat /sys/class/nvme-subsystem/$s/iopolicy)"
         nvme list-subsys $h
         nvme id-ctrl /dev/$a | grep -E '^(cntlid|cmic|oaes|anatt|anacap|anagrpmax|nanagrpid|subnqn) '
         nvme id-ctrl /dev/$b | grep -E '^cntlid '
         nvme id-ns $h | grep -E '^(nmic|anagrpid|nguid|eui64) *:'`,
        { timeoutMs: 60_000 },
      );
      ctx.jobOk('guest', r);
      const v = kv(r.stdout);
      ctx.equal('nvme_core multipath', v.multipath, 'Y');
      ctx.equal('one head', v.heads, '1');
      ctx.equal('two controllers in the subsystem', v.ctrls, '2');
      ctx.equal('two paths under the head', v.paths, '2');
      ctx.equal('controller A live', v.state_a, 'live');
      ctx.equal('controller B live', v.state_b, 'live');
      ctx.equal('path A', v.ana_a, 'optimized');
      ctx.equal('path B', v.ana_b, 'optimized');
      ctx.equal('one SN for the subsystem', v.same_serial, 'yes');
      ctx.match('iopolicy', v.iopolicy, /round-robin/);
      ctx.match('list-subsys: the NQN', r.stdout, new RegExp(`NQN=${NQN}`));
      ctx.equal('list-subsys: two live optimized paths', r.stdout.match(/ live optimized/g)?.length, 2);
      ctx.match('CNTLIDs 1 and 2', r.stdout, /^cntlid\s+: (0x)?1\n[\s\S]*^cntlid\s+: (0x)?2$/m);
      ctx.match('CMIC: multi-port, multi-controller, ANA', r.stdout, /^cmic\s+: 0xb$/m);
      ctx.match('ANAGRPMAX', r.stdout, /^anagrpmax\s+: 1$/m);
      ctx.match('NMIC: shared', r.stdout, /^nmic\s+: (0x)?1$/m);
      ctx.match('ANAGRPID', r.stdout, /^anagrpid\s*: 1$/m);
      const a = ctx.devices.nvmeA.controller;
      ctx.check(
        'the guest enabled ANA change notices (Feature 0Bh bit 11)',
        (a.events.config & 0x800) !== 0,
        `config 0x${a.events.config.toString(16)}`,
      );
    },

    'fio verify runs on while path A goes inaccessible (I/O moves to B) and comes back optimized': async (ctx) => {
      const { nvmeA, nvmeB } = ctx.devices;
      const s = subsystem as NvmeSubsystem;
      const aensBefore = nvmeA.controller.stats.asyncEventsCompleted;
      const errorsBefore = nvmeA.controller.stats.commandErrors;
      const job = ctx.guest.run(
        `${SH}
         ${FIO('fio.terse')} &
         fio=$!
         # Record path A's ANA state as the guest sees it, and list-subsys once it is down and once back.
         seen=; i=0
         while kill -0 $fio 2>/dev/null && [ $i -lt 1200 ]; do
           st=$(ana 1)
           case "$seen" in *"$st") ;; *) seen="$seen $st"
             [ "$st" = inaccessible ] && nvme list-subsys $(head_dev) > $JOB_OUT/down.txt ;; esac
           sleep 0.1; i=$((i+1))
         done
         wait $fio; echo "fio=$?"
         nvme list-subsys $(head_dev) > $JOB_OUT/back.txt
         echo "seen=$seen"; echo "ana_a=$(ana 1)"`,
        { timeoutMs: 240_000 },
      );
      // Round-robin: both paths carry writes before the change.
      const [a0, b0] = [writes(nvmeA), writes(nvmeB)];
      ctx.check('writes through both paths', await until(() => writes(nvmeA) > a0 + 16 && writes(nvmeB) > b0 + 16, 60_000));
      s.setAnaState(1, 1, 'inaccessible');
      await new Promise((r) => setTimeout(r, 2000)); // the guest reads the ANA log (notice, or a path error)
      const [a1, b1] = [writes(nvmeA), writes(nvmeB)];
      ctx.check('B carries the writes while A is inaccessible', await until(() => writes(nvmeB) > b1 + 64, 60_000));
      ctx.equal('writes sent to A while it is inaccessible', writes(nvmeA) - a1, 0);
      s.setAnaState(1, 1, 'optimized');
      const a2 = writes(nvmeA);
      ctx.check('A carries writes again once optimized', await until(() => writes(nvmeA) > a2 + 16, 60_000));
      const r = await job;
      ctx.jobOk('guest', r);
      const v = kv(r.stdout);
      ctx.equal('fio exit', v.fio, '0');
      fioChecks(ctx, r.files.get('fio.terse'), 'ANA failover');
      ctx.match('sysfs ana_state of path A went optimized → inaccessible → optimized', v.seen, /optimized inaccessible( \S+)* optimized$/);
      ctx.equal('path A at the end', v.ana_a, 'optimized');
      const down = r.files.get('down.txt')?.toString() ?? '';
      ctx.log(`nvme list-subsys while path A was inaccessible:\n${down}`);
      ctx.match('list-subsys while down: A inaccessible', down, / live inaccessible/);
      ctx.match('list-subsys while down: B optimized', down, / live optimized/);
      ctx.equal(
        'list-subsys after: both optimized',
        r.files
          .get('back.txt')
          ?.toString()
          .match(/ live optimized/g)?.length,
        2,
      );
      ctx.atLeast('ANA change notices the guest received from A', nvmeA.controller.stats.asyncEventsCompleted - aensBefore, 2);
      ctx.log(`A refused ${nvmeA.controller.stats.commandErrors - errorsBefore} commands with a path status`);
    },

    'fio verify runs on while the current path is drained through ANA and its server stopped: the guest drops it, I/O stays on the other':
      async (ctx) => {
        // numa iopolicy: every bio goes to the head's current path until it fails. (With round-robin
        // Linux also picks a path whose controller is 'deleting'; bios that reached it while its disks
        // were marked dead ended with EIO, one of fio's writes in a run on kernel 7.2.)
        const blob = await ctx.guest.run(
          `${SH}
         echo numa > /sys/class/nvme-subsystem/$(subsys)/iopolicy
         dd if=/dev/urandom of=$JOB_WORK/blob bs=1M count=${BLOB.bytes >> 20} 2>/dev/null
         dd if=$JOB_WORK/blob of=$(head_dev) bs=1M seek=${BLOB.offset >> 20} oflag=direct conv=fsync 2>/dev/null
         echo "sha=$(sha256sum < $JOB_WORK/blob | cut -d' ' -f1)"
         for id in 1 2; do echo "current_$id=$(cat /sys/class/nvme/$(ctrl $id)/nvme*c*n1/numa_nodes)"; done`,
          { timeoutMs: 60_000 },
        );
        ctx.jobOk('blob written through the head', blob);
        const pre = kv(blob.stdout);
        const stoppedId = pre.current_1 === '0' ? 1 : 2;
        ctx.check('one current path (numa_nodes)', [pre.current_1, pre.current_2].filter((n) => n === '0').length === 1, blob.stdout);
        const [stopped, survivor] = stoppedId === 1 ? [ctx.devices.nvmeA, ctx.devices.nvmeB] : [ctx.devices.nvmeB, ctx.devices.nvmeA];
        ctx.log(`stopping the server of controller ${stoppedId}, the current path`);
        const job = ctx.guest.run(
          `${SH}
         x=$(ctrl ${stoppedId})
         ${FIO('fio.terse')}; echo "fio=$?"
         # A drained path carries no I/O, so nothing has noticed its server is gone yet: an admin
         # command does (it times out, the reset finds CSTS all ones, the controller goes dead).
         nvme id-ctrl /dev/$x > /dev/null 2>&1; echo "id_ctrl=$?"
         echo "state_stopped=$(cat /sys/class/nvme/$x/state 2>/dev/null || echo removed)"
         nvme list-subsys $(head_dev)`,
          { timeoutMs: 240_000 },
        );
        const s0 = writes(stopped);
        ctx.check('writes through the current path', await until(() => writes(stopped) > s0 + 16, 60_000));
        // Drained first: QEMU 11.1.3's vfio-user client can abort (error_setv assertion) when a server
        // goes away with requests of its in flight, which would end the guest, not test failover.
        (subsystem as NvmeSubsystem).setAnaState(stoppedId, 1, 'inaccessible');
        const b0 = writes(survivor);
        ctx.check('the other path takes the writes', await until(() => writes(survivor) > b0 + 16, 60_000));
        const quiet = writes(stopped);
        await new Promise((r) => setTimeout(r, 1000));
        ctx.equal('writes sent to the drained path', writes(stopped) - quiet, 0);
        ctx.rig.servers.get(stoppedId === 1 ? 'nvmeA' : 'nvmeB')?.close(); // socket and connection gone
        const b1 = writes(survivor);
        const r = await job;
        ctx.jobOk('guest', r);
        const v = kv(r.stdout);
        ctx.equal('fio exit', v.fio, '0');
        fioChecks(ctx, r.files.get('fio.terse'), 'server stopped');
        ctx.atLeast('writes the other controller served after the stop', writes(survivor) - b1, 64);
        ctx.check('the guest cannot reach the stopped controller', v.id_ctrl !== '0', `nvme id-ctrl exit ${v.id_ctrl}`);
        ctx.check('the stopped controller is no longer live in the guest', v.state_stopped !== 'live', `state ${v.state_stopped}`);
        ctx.equal('list-subsys: one live path', r.stdout.match(/ live /g)?.length, 1);

        // The data at the end: the blob read back through the surviving path, and straight from the image.
        const back = await ctx.guest.run(
          `${SH}
         dd if=$(head_dev) bs=1M skip=${BLOB.offset >> 20} count=${BLOB.bytes >> 20} iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1`,
          { timeoutMs: 60_000 },
        );
        ctx.jobOk('blob read through the surviving path', back);
        const sha = kv(blob.stdout).sha;
        ctx.equal('blob through the head after failover', back.stdout.trim(), sha);
        const image = await open(join(ctx.scratch, 'shared.img'), 'r');
        try {
          const bytes = Buffer.alloc(BLOB.bytes);
          await image.read(bytes, 0, BLOB.bytes, BLOB.offset);
          ctx.equal('blob in the shared image', createHash('sha256').update(bytes).digest('hex'), sha);
        } finally {
          await image.close();
        }
      },
  },
});
