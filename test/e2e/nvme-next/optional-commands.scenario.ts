/**
 * Write Uncorrectable, Get LBA Status and Device Self-test on a p2pkit NVMe below a root port,
 * driven by the guest's stock nvme driver, nvme-cli and dd. Every check is on what the guest's
 * tools and kernel reported.
 */
import { join } from 'node:path';
import { topology } from '@p2pkit/fabric';
import { createNvme } from '@p2pkit/nvme';
import { defineScenario, parseKeyValues as kv } from '@p2pkit/testbed';

/** The range made uncorrectable: 8 blocks of 512 bytes from LBA 800. */
const SLBA = 800;
const BLOCKS = 8;

export default defineScenario({
  name: 'p2pkit NVMe optional commands: write-uncor, get-lba-status, device-self-test',
  topology: topology().rootPort('rp0', (rp) => rp.attach('nvme0')),
  devices: async ({ dir }) => ({
    nvme0: await createNvme({
      serial: 'P2PKIT-OPT',
      model: 'p2pkit NVMe',
      namespaces: [{ path: join(dir, 'opt-ns1.img'), sizeBytes: 64 << 20 }],
      deviceSelfTest: { shortMs: 1500, extendedMs: 3000 },
    }),
  }),
  guest: { cpus: 2 },
  steps: {
    'id-ctrl advertises Device Self-test, Get LBA Status (OACS) and Write Uncorrectable (ONCS)': async (ctx) => {
      const r = await ctx.guest.run(
        `set -e
         c=/dev/$(nvme_ctrl_by_serial P2PKIT-OPT)
         nvme id-ctrl $c | grep -E '^(oacs|oncs|edstt|dsto) '`,
        { timeoutMs: 30_000 },
      );
      ctx.jobOk('nvme id-ctrl', r);
      const field = (name: string) => Number(r.stdout.match(new RegExp(`^${name}\\s+: (0x[0-9a-f]+|\\d+)`, 'm'))?.[1] ?? Number.NaN);
      ctx.equal('OACS bit 4 (Device Self-test)', field('oacs') & 0x10, 0x10);
      ctx.equal('OACS bit 9 (Get LBA Status)', field('oacs') & 0x200, 0x200);
      ctx.equal('ONCS bit 1 (Write Uncorrectable)', field('oncs') & 0x2, 0x2);
      ctx.equal('EDSTT (minutes)', field('edstt'), 1);
    },

    'device-self-test: a short test runs to "completed without error"; a second start is refused; abort is logged': async (ctx) => {
      const r = await ctx.guest.run(
        `c=/dev/$(nvme_ctrl_by_serial P2PKIT-OPT)
         nvme device-self-test $c -n 1 -s 1; echo "short_rc=$?"
         nvme self-test-log $c > $JOB_OUT/running.txt
         while nvme self-test-log $c | grep -q 'Current operation *: 0x1'; do sleep 0.5; done
         nvme self-test-log $c > $JOB_OUT/short.txt
         nvme device-self-test $c -n 1 -s 2; echo "extended_rc=$?"
         nvme device-self-test $c -n 1 -s 1 > $JOB_OUT/second.txt 2>&1; echo "second_rc=$?"
         nvme device-self-test $c -s 0xf; echo "abort_rc=$?"
         nvme self-test-log $c > $JOB_OUT/aborted.txt`,
        { timeoutMs: 60_000 },
      );
      ctx.jobOk('nvme device-self-test', r);
      const v = kv(r.stdout);
      const file = (name: string) => (r.files.get(name) ?? Buffer.alloc(0)).toString();
      ctx.equal('short test started', v.short_rc, '0');
      ctx.match('log while running: short operation in progress', file('running.txt'), /Current operation\s*:\s*0x1/);
      ctx.match(
        'newest result: short, completed without error',
        file('short.txt'),
        /Self Test Result\[0\]:\s+Operation Result\s*:\s*0(x0)?\b[\s\S]*?Self Test Code\s*:\s*1\b/,
      );
      ctx.equal('extended test started', v.extended_rc, '0');
      ctx.check('second start refused', v.second_rc !== '0', `rc=${v.second_rc}`);
      ctx.match('refused with Device Self-test In Progress', file('second.txt'), /self-?test in progress/i);
      ctx.equal('abort accepted', v.abort_rc, '0');
      ctx.match(
        'newest result: extended, aborted by a Device Self-test command',
        file('aborted.txt'),
        /Self Test Result\[0\]:\s+Operation Result\s*:\s*(0x)?1\b[\s\S]*?Self Test Code\s*:\s*2\b/,
      );
    },

    'write-uncor: reads fail with a critical medium error, get-lba-status lists the range, an extended self-test fails on it': async (
      ctx,
    ) => {
      const r = await ctx.guest.run(
        `d=$(nvme_ns_by_serial P2PKIT-OPT); c=/dev/$(nvme_ctrl_by_serial P2PKIT-OPT)
         dd if=/dev/urandom of=/tmp/pattern bs=512 count=${BLOCKS} 2>/dev/null
         dd if=/tmp/pattern of=$d bs=512 seek=${SLBA} count=${BLOCKS} oflag=direct conv=fsync 2>/dev/null
         dmesg -C
         nvme write-uncor $d -n 1 -s ${SLBA} -c ${BLOCKS - 1}; echo "uncor_rc=$?"
         dd if=$d of=/dev/null bs=512 skip=${SLBA + 3} count=1 iflag=direct 2> $JOB_OUT/dd.txt; echo "dd_rc=$?"
         nvme read $d -n 1 -s ${SLBA} -c ${BLOCKS - 1} -z ${BLOCKS * 512} -d /tmp/out > $JOB_OUT/read.txt 2>&1; echo "read_rc=$?"
         dd if=$d of=/dev/null bs=512 skip=${SLBA + BLOCKS} count=8 iflag=direct 2>/dev/null; echo "after_rc=$?"
         nvme get-lba-status $d -n 1 -s 0 -m 1023 -a 0x11 > $JOB_OUT/lba-status.txt; echo "status_rc=$?"
         nvme smart-log $c | grep -E '^media_errors'
         dmesg > $JOB_OUT/dmesg.txt
         nvme device-self-test $c -n 1 -s 2; echo "extended_rc=$?"
         while nvme self-test-log $c | grep -q 'Current operation *: 0x2'; do sleep 0.5; done
         nvme self-test-log $c > $JOB_OUT/extended.txt`,
        { timeoutMs: 60_000 },
      );
      ctx.jobOk('write-uncor, reads, get-lba-status', r);
      const v = kv(r.stdout);
      const file = (name: string) => (r.files.get(name) ?? Buffer.alloc(0)).toString();
      ctx.equal('write-uncor', v.uncor_rc, '0');
      ctx.check('dd of a marked block fails', v.dd_rc !== '0', `rc=${v.dd_rc}`);
      // BLK_STS_MEDIUM reaches user space as ENODATA.
      ctx.match('dd: No data available (ENODATA)', file('dd.txt'), /No data available/);
      ctx.check('nvme read of the range fails', v.read_rc !== '0', `rc=${v.read_rc}`);
      ctx.match('nvme read: Unrecovered Read Error', file('read.txt'), /UNRECOVERED_READ|Unrecovered Read Error/i);
      ctx.equal('blocks after the range still read', v.after_rc, '0');
      ctx.match(
        'kernel: the Read failed with SCT 2h / SC 81h, DNR',
        file('dmesg.txt'),
        // "I/O Cmd(0x2) … I/O Error", or "Read(0x2) … Unrecovered Read Error" with CONFIG_NVME_VERBOSE_ERRORS.
        new RegExp(`nvme\\dn1: (I/O Cmd|Read)\\(0x2\\) @ LBA ${SLBA + 3}, 1 blocks, [\\w/ ]+ \\(sct 0x2 / sc 0x81\\) DNR`),
      );
      ctx.match(
        'kernel: critical medium error on the marked sector',
        file('dmesg.txt'),
        new RegExp(`critical medium error, dev nvme\\dn1, sector ${SLBA + 3}\\b`),
      );
      ctx.equal('get-lba-status', v.status_rc, '0');
      const lbaStatus = file('lba-status.txt');
      ctx.match('one descriptor (NLSD)', lbaStatus, /NLSD\)?:\s*1\b/);
      ctx.match('complete (CMPC 2)', lbaStatus, /CMPC\)?:\s*2\b/);
      ctx.match(
        'descriptor: the marked range, written uncorrectable (status 3)',
        lbaStatus,
        new RegExp(`DSLBA: 0x0*${SLBA.toString(16)}, NLB: 0x0*${(BLOCKS - 1).toString(16)}, Status: 0x0?3`, 'i'),
      );
      ctx.match('smart-log media errors', r.stdout, /^media_errors\s*:\s*[1-9]/m);
      ctx.equal('extended self-test started', v.extended_rc, '0');
      const extended = file('extended.txt');
      ctx.match(
        'extended result: a segment failed (7), segment 7',
        extended,
        /Self Test Result\[0\]:\s+Operation Result\s*:\s*(0x)?7\b[\s\S]*?Segment Number\s*:\s*(0x)?7\b/,
      );
      ctx.match('failing LBA is the first marked block', extended, new RegExp(`Failing LBA\\s*:\\s*(0x0*${SLBA.toString(16)}|${SLBA})\\b`));
    },

    'the marks survive a server restart (<image>.uncorrectable.json): reads still fail, get-lba-status still lists them': async (ctx) => {
      await ctx.restart();
      const r = await ctx.guest.run(
        `d=$(nvme_ns_by_serial P2PKIT-OPT)
         dd if=$d of=/dev/null bs=512 skip=${SLBA} count=${BLOCKS} iflag=direct 2>/dev/null; echo "dd_rc=$?"
         nvme get-lba-status $d -n 1 -s 0 -m 1023 -a 0x10 > $JOB_OUT/lba-status.txt; echo "status_rc=$?"`,
        { timeoutMs: 30_000 },
      );
      ctx.jobOk('after restart', r);
      const v = kv(r.stdout);
      ctx.check('the range still fails to read', v.dd_rc !== '0', `rc=${v.dd_rc}`);
      ctx.equal('get-lba-status (ATYPE 10h)', v.status_rc, '0');
      ctx.match(
        'the same descriptor',
        (r.files.get('lba-status.txt') ?? Buffer.alloc(0)).toString(),
        new RegExp(`DSLBA: 0x0*${SLBA.toString(16)}, NLB: 0x0*${(BLOCKS - 1).toString(16)}, Status: 0x0?3`, 'i'),
      );
    },

    'rewriting the range makes it readable again with the data written; get-lba-status is empty': async (ctx) => {
      const r = await ctx.guest.run(
        `d=$(nvme_ns_by_serial P2PKIT-OPT)
         dd if=/dev/urandom of=/tmp/fresh bs=512 count=${BLOCKS} 2>/dev/null
         dd if=/tmp/fresh of=$d bs=512 seek=${SLBA} count=${BLOCKS} oflag=direct conv=fsync 2>/dev/null; echo "write_rc=$?"
         dd if=$d of=/tmp/back bs=512 skip=${SLBA} count=${BLOCKS} iflag=direct 2>/dev/null; echo "read_rc=$?"
         echo "same=$(cmp -s /tmp/fresh /tmp/back && echo yes || echo no)"
         nvme get-lba-status $d -n 1 -s 0 -m 1023 -a 0x11 > $JOB_OUT/lba-status.txt; echo "status_rc=$?"`,
        { timeoutMs: 30_000 },
      );
      ctx.jobOk('rewrite and read back', r);
      const v = kv(r.stdout);
      ctx.equal('rewrite', v.write_rc, '0');
      ctx.equal('read back', v.read_rc, '0');
      ctx.equal('data verified', v.same, 'yes');
      ctx.equal('get-lba-status', v.status_rc, '0');
      ctx.match('no descriptor left', (r.files.get('lba-status.txt') ?? Buffer.alloc(0)).toString(), /NLSD\)?:\s*0\b/);
    },
  },
});
