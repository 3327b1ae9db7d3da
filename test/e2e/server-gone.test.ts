/**
 * Fault injection in a multi-device topology: two p2pkit NVMe controllers below one switch; one
 * device's server goes away (closed: its socket and client connection). The guest must see that
 * device fail while the other keeps working (fio with verify), and QEMU must stay up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kv } from './guest-tool.ts';
import { bootNvmeSwitch, deviceBugs, type NvmeScenario } from './nvme-rig.ts';

describe('fault injection: one device server gone', () => {
  let s: NvmeScenario;

  beforeAll(async () => {
    s = await bootNvmeSwitch(
      { nvme0: { serial: 'P2PKIT-OK', namespaceMiB: [128] }, nvme1: { serial: 'P2PKIT-GONE', namespaceMiB: [128] } },
      { cpus: 2 },
    );
  });
  afterAll(async () => {
    await s?.close();
  });

  it('the guest sees the gone device fail, the other device keeps working and QEMU stays up', async () => {
    const pre = await s.guest.run(
      `for sn in OK GONE; do d=$(nvme_ns_by_serial P2PKIT-$sn); dd if=/dev/urandom of=$d bs=1M count=4 oflag=direct status=none && echo "$sn=ok"; done`,
      { timeoutMs: 60_000 },
    );
    expect(kv(pre.stdout)).toMatchObject({ OK: 'ok', GONE: 'ok' });

    s.rig.servers.get('nvme1')?.close(); // the server is gone: connection and socket

    const r = await s.guest.run(
      `gone=$(nvme_ns_by_serial P2PKIT-GONE)
       ok=$(nvme_ns_by_serial P2PKIT-OK)
       if timeout 60 dd if=$gone of=/dev/null bs=4k count=16 iflag=direct skip=100 status=none; then echo "gone=readable"; else echo "gone=failed"; fi
       fio --name=ok --filename=$ok --direct=1 --ioengine=libaio --iodepth=8 --rw=randwrite --bs=16k --size=32M \\
           --verify=crc32c --do_verify=1 --verify_fatal=1 --output-format=terse --terse-version=3 > $JOB_OUT/fio.terse; echo "fio=$?"`,
      { timeoutMs: 300_000 },
    );
    console.log(`server gone: ${r.stdout.trim().replace(/\n/g, '; ')}`);
    expect(r.exitCode, `${r.stdout}\n${r.stderr}\n${r.dmesg ?? ''}`).toBe(0);
    const out = kv(r.stdout);
    expect(out.gone).toBe('failed');
    expect(out.fio).toBe('0');
    const terse = (r.files.get('fio.terse') as Buffer).toString().trim().split(';');
    expect(Number(terse[4])).toBe(0);
    expect(Number(terse[46])).toBe(32 * 1024);
    expect(deviceBugs(s.log)).toEqual([]);
  });
});
