/**
 * NVMe fuzzer through the TypeScript host driver (`@p2pkit/nvme/testing`): random admin and I/O
 * opcodes, namespaces and LBA ranges; PRP lists and SGLs pointing anywhere (inside the data area,
 * unaligned, outside guest memory, near 2^64); queue create/delete misuse; doorbells past the tail;
 * register writes (CC, AQA, ASQ/ACQ, INTMS/INTMC); CC.EN toggles, shutdown, NSSR, PCIe FLR and
 * DEVICE_RESET while I/O is outstanding.
 *
 * Findings: a crash (an exception escaped, an unhandled rejection), a hang (a submitted command
 * without completion within the deadline while CSTS.RDY = 1 and CFS = 0 and nothing reset the
 * controller since it was submitted), a `device` log line (a controller bug), and a recovery that
 * fails (the controller cannot be enabled again). Commands outstanding when the fuzzer disables or
 * resets the controller are dropped legitimately; they are counted, not waited for.
 */

import { AdminOpcode, IoOpcode, Reg, statusName } from '@p2pkit/nvme';
import { type NvmeCommand, type NvmeHarness, PSDT_SGL, sglDescriptor, startNvmeHarness } from '@p2pkit/nvme/testing';
import { RegionIndex } from '@p2pkit/vfio-user';
import { Command } from '@p2pkit/vfio-user/internal';
import { Prng } from './prng.ts';

export interface NvmeFuzzOptions {
  /** Commands to submit (the run also performs register writes, resets, … between them). */
  commands: number;
  seed: number;
  /** Completion deadline; default 3000 ms. */
  deadlineMs?: number;
  onProgress?: (commands: number) => void;
  progressEvery?: number;
  stop?: () => boolean;
}

export interface NvmeFinding {
  kind: 'crash' | 'hang' | 'device-error' | 'recovery-failed';
  command: number;
  detail: string;
}

export interface NvmeFuzzSummary {
  seed: number;
  commands: number;
  completions: number;
  /** Outstanding commands dropped by a disable, shutdown, NSSR, FLR or DEVICE_RESET. */
  dropped: number;
  /** Commands not completed while CSTS.CFS = 1 (a fatal status the fuzzer provoked). */
  lostToCfs: number;
  crashes: number;
  hangs: number;
  findings: NvmeFinding[];
  statuses: Record<string, number>;
  disruptions: Record<string, number>;
  guestErrors: number;
  harnesses: number;
  ms: number;
}

const CSTS_RDY = 1;
const CSTS_CFS = 2;
const NSSR_MAGIC = 0x4e564d65;
const DATA_PAGES = 64;
const LIST_BYTES = 16 * 4096;
const MEMORY_BYTES = 48 << 20;
const ADMIN_OPS = [...Object.values(AdminOpcode), 0x03, 0x10, 0x11, 0x14, 0x19, 0x1a, 0x7f, 0x81, 0x84, 0xc0, 0xff];
const IO_OPS = [
  ...Object.values(IoOpcode),
  IoOpcode.Read,
  IoOpcode.Read,
  IoOpcode.Write,
  IoOpcode.Write,
  0x04,
  0x0d,
  0x11,
  0x15,
  0x7f,
  0x80,
  0x81,
  0xff,
];

/** One harness generation: guest memory is a bump allocator, so a long run starts a fresh one now and then. */
class Target {
  readonly dataArea: bigint;
  readonly listArea: bigint;
  pcieCap = 0;
  ioQueues: number[] = [];

  constructor(readonly h: NvmeHarness) {
    this.dataArea = h.memory.alloc(DATA_PAGES * 4096);
    this.listArea = h.memory.alloc(LIST_BYTES);
  }

  /** Bytes of guest memory the bump allocator has left (queues for more recoveries). */
  get exhausted(): boolean {
    try {
      this.h.memory.alloc(0);
    } catch {
      return true;
    }
    return false;
  }
}

export async function fuzzNvme(options: NvmeFuzzOptions): Promise<NvmeFuzzSummary> {
  const started = Date.now();
  const rng = new Prng(options.seed);
  const deadlineMs = options.deadlineMs ?? 3000;
  const summary: NvmeFuzzSummary = {
    seed: options.seed,
    commands: 0,
    completions: 0,
    dropped: 0,
    lostToCfs: 0,
    crashes: 0,
    hangs: 0,
    findings: [],
    statuses: {},
    disruptions: {},
    guestErrors: 0,
    harnesses: 0,
    ms: 0,
  };
  const finding = (kind: NvmeFinding['kind'], detail: string) => {
    if (summary.findings.length < 50) summary.findings.push({ kind, command: summary.commands, detail });
    if (kind === 'crash') summary.crashes++;
    if (kind === 'hang') summary.hangs++;
  };
  let escaped: string | undefined;
  const onError = (e: unknown) => {
    escaped ??= `${(e as Error)?.stack ?? e}`;
  };
  process.on('unhandledRejection', onError);
  process.on('uncaughtException', onError);

  let t: Target | undefined;
  let deviceErrorsSeen = 0;
  let recoveries = 0;
  const startTarget = async (): Promise<Target> => {
    if (t) {
      summary.guestErrors += t.h.log.entries.filter((e) => e.channel === 'guest').length;
      await t.h.close();
    }
    summary.harnesses++;
    deviceErrorsSeen = 0;
    recoveries = 0;
    const h = await startNvmeHarness({
      transport: 'memory',
      namespaces: [{ sizeBytes: 2 << 20 }, { sizeBytes: 4 << 20, lbaSize: 4096 }],
      memory: { size: MEMORY_BYTES },
      timeoutMs: deadlineMs,
      pmr: { size: 1 << 20 },
    });
    const target = new Target(h);
    target.pcieCap = await findCapability(h, 0x10);
    return target;
  };
  t = await startTarget();

  /** Bring the controller back to a known state: BME on, enabled, queues 1..n created. */
  const recover = async (): Promise<void> => {
    const target = t as Target;
    recoveries++;
    if (recoveries > 400 || target.exhausted) t = await startTarget();
    const h = (t as Target).h;
    try {
      await h.enableBusMaster();
      await h.driver.enable();
      const r = await h.driver.setFeatures(0x07, (3 << 16) | 3);
      if (r.status !== 0) throw new Error(`Number of Queues: ${statusName(r.status)}`);
      const n = 1 + rng.int(3);
      (t as Target).ioQueues = [];
      for (let q = 1; q <= n; q++) {
        await h.driver.createQueuePair(q, rng.pick([2, 8, 64, 256]));
        (t as Target).ioQueues.push(q);
      }
    } catch (e) {
      finding('recovery-failed', `${(e as Error).message}`);
      t = await startTarget();
      await recover();
    }
  };
  await recover();

  const checkDeviceErrors = () => {
    const errs = (t as Target).h.deviceErrors;
    for (const e of errs.slice(deviceErrorsSeen)) finding('device-error', e);
    deviceErrorsSeen = errs.length;
  };
  const csts = async () => (t as Target).h.driver.read32(Reg.CSTS);

  /** A pointer: inside the data area (aligned or not), outside guest memory, or absurd. */
  const pointer = (): bigint => {
    const target = t as Target;
    const k = rng.int(10);
    if (k < 6) return target.dataArea + BigInt(rng.int(DATA_PAGES)) * 4096n;
    if (k === 6) return (target.dataArea + BigInt(rng.int(DATA_PAGES * 4096))) & ~3n;
    if (k === 7) return target.dataArea + BigInt(rng.int(DATA_PAGES * 4096));
    if (k === 8) return rng.pick([0n, 0x1000n, 0x8000_0000_0000n, 1n << 32n, (1n << 64n) - 4096n]);
    return rng.interesting(64);
  };
  /** PRP2 or an SGL segment address: a list in the list area filled with random entries, or a random pointer. */
  const list = (entryBytes: 8 | 16, depth = 0): bigint => {
    const target = t as Target;
    if (depth > 1 || rng.chance(0.3)) return pointer();
    const at = target.listArea + BigInt(rng.int(LIST_BYTES / 4096 - 1)) * 4096n + (rng.chance(0.1) ? BigInt(rng.int(512) * 8) : 0n);
    const n = 1 + (rng.chance(0.1) ? rng.int(entryBytes === 8 ? 512 : 256) : rng.int(16));
    const view = target.h.memory.dataView(at, Math.min(4096, Number(target.listArea + BigInt(LIST_BYTES) - at)));
    for (let i = 0; i < n && (i + 1) * entryBytes <= view.byteLength; i++) {
      if (entryBytes === 8) view.setBigUint64(i * 8, rng.chance(0.02) ? list(8, depth + 1) : pointer(), true);
      else {
        const d = sglDescriptor(
          pointer(),
          rng.chance(0.7) ? rng.pick([512, 4096, 8192]) : rng.u32(),
          rng.chance(0.8) ? rng.pick([0, 0, 0, 1, 2, 3]) : rng.int(16),
          rng.int(16),
        );
        new Uint8Array(view.buffer, view.byteOffset + i * 16, 16).set(d);
      }
    }
    return at;
  };
  const dataPointer = (): Pick<NvmeCommand, 'prp1' | 'prp2' | 'sgl' | 'flags'> => {
    if (rng.chance(0.7))
      return {
        prp1: pointer(),
        prp2: rng.chance(0.3) ? 0n : rng.chance(0.5) ? pointer() : list(8),
        ...(rng.chance(0.03) ? { flags: rng.int(256) } : {}),
      };
    const type = rng.chance(0.8) ? rng.pick([0, 0, 1, 2, 3]) : rng.int(16);
    const address = type === 2 || type === 3 ? list(16) : pointer();
    return {
      sgl: sglDescriptor(address, rng.chance(0.7) ? rng.pick([512, 4096, 16, 64, 8192]) : rng.u32(), type, rng.int(16)),
      flags: rng.chance(0.9) ? PSDT_SGL : rng.int(256),
    };
  };
  const nsid = () => (rng.chance(0.85) ? rng.pick([1, 1, 2]) : rng.pick([0, 3, 32, 33, 0xffffffff, rng.u32()]));
  const slba = () => (rng.chance(0.7) ? BigInt(rng.int(1024)) : rng.pick([4095n, 4096n, 8191n, 1n << 32n, rng.interesting(64)]));
  const ioCommand = (): NvmeCommand => {
    const s = slba();
    return {
      opcode: rng.chance(0.9) ? rng.pick(IO_OPS) : rng.int(256),
      nsid: nsid(),
      ...dataPointer(),
      cdw10: Number(s & 0xffffffffn),
      cdw11: Number(s >> 32n),
      cdw12: rng.chance(0.8) ? rng.int(16) : rng.u32(),
      cdw13: rng.chance(0.8) ? 0 : rng.u32(),
      cdw14: rng.chance(0.9) ? 0 : rng.u32(),
      cdw15: rng.chance(0.9) ? 0 : rng.u32(),
      ...(rng.chance(0.05) ? { mptr: pointer() } : {}),
    };
  };
  const adminCommand = (): NvmeCommand => {
    const opcode = rng.chance(0.9) ? rng.pick(ADMIN_OPS) : rng.int(256);
    const small = () => (rng.chance(0.8) ? rng.int(64) : rng.u32());
    let cdw10 = small();
    let cdw11 = small();
    if (opcode === AdminOpcode.CreateIoCq || opcode === AdminOpcode.CreateIoSq) {
      cdw10 = ((rng.chance(0.8) ? rng.int(64) : rng.int(0x10000)) << 16) | (rng.chance(0.8) ? rng.int(8) : rng.int(0x10000));
      cdw11 = rng.chance(0.8) ? (rng.int(8) << 16) | rng.int(4) : rng.u32();
    } else if (opcode === AdminOpcode.DeleteIoCq || opcode === AdminOpcode.DeleteIoSq) {
      cdw10 = rng.chance(0.8) ? rng.int(6) : rng.int(0x10000);
    } else if (opcode === AdminOpcode.GetLogPage) {
      cdw10 = rng.pick([1, 2, 3, 5, 0x0c, 0x70, 0x80, rng.int(256)]) | (rng.int(1024) << 16);
    } else if (opcode === AdminOpcode.Identify) {
      cdw10 = rng.chance(0.8) ? rng.pick([0, 1, 2, 3, 5, 6, 0x10, 0x11, 0x12, 0x13]) : rng.u32();
    }
    return { opcode, nsid: nsid(), ...dataPointer(), cdw10, cdw11, cdw12: small(), cdw13: small(), cdw14: small(), cdw15: small() };
  };

  const outstanding: { qid: number; cid: number; opcode: number }[] = [];
  const record = (status: number) => {
    summary.completions++;
    const name = statusName(status);
    summary.statuses[name] = (summary.statuses[name] ?? 0) + 1;
  };
  const reapOutstanding = async () => {
    const h = (t as Target).h;
    while (outstanding.length) {
      const c = outstanding[0] as (typeof outstanding)[number];
      try {
        const done = await h.driver.waitForCompletion(c.qid, c.cid, deadlineMs);
        record(done.status);
        outstanding.shift();
      } catch {
        const s = await csts();
        if (s & CSTS_CFS || !(s & CSTS_RDY)) {
          summary.lostToCfs += outstanding.length;
          outstanding.length = 0;
          summary.disruptions.cfs = (summary.disruptions.cfs ?? 0) + 1;
          await recover();
          return;
        }
        finding(
          'hang',
          `queue ${c.qid} cid ${c.cid} opcode 0x${c.opcode.toString(16)}: no completion within ${deadlineMs} ms, CSTS 0x${s.toString(16)}`,
        );
        outstanding.length = 0;
        await recover();
        return;
      }
    }
    // completions of AERs (and of anything reaped out of order) land here
    for (const u of h.driver.unclaimedCompletions.splice(0)) record(u.status);
  };
  const disrupt = async (what: string, action: () => Promise<unknown>) => {
    summary.disruptions[what] = (summary.disruptions[what] ?? 0) + 1;
    summary.dropped += outstanding.length;
    outstanding.length = 0;
    await action();
    await recover();
  };

  let reported = 0;
  try {
    while (summary.commands < options.commands && !options.stop?.()) {
      const target = t as Target;
      const h = target.h;
      const k = rng.int(1000);
      if (k < 940) {
        // a batch of I/O (and sometimes admin) commands, then wait for all of them
        const n = 1 + rng.int(16);
        for (let i = 0; i < n && summary.commands < options.commands; i++) {
          const admin = rng.chance(0.05) || target.ioQueues.length === 0;
          const qid = admin ? 0 : (rng.pick(target.ioQueues) as number);
          const pair = h.driver.queues.get(qid);
          if (!pair || pair.full) break;
          const command = admin ? adminCommand() : ioCommand();
          if (admin && command.opcode === AdminOpcode.AsyncEventRequest) command.opcode = AdminOpcode.KeepAlive; // AERs complete only on events
          const cid = h.driver.enqueue(qid, command);
          outstanding.push({ qid, cid, opcode: command.opcode });
          summary.commands++;
          if (admin) {
            // admin commands one at a time (queue create/delete change what the batch targets): ring everything, reap
            for (const q of new Set(outstanding.map((o) => o.qid))) await h.driver.ringSqTail(q);
            await reapOutstanding();
            if (
              command.opcode === AdminOpcode.DeleteIoSq ||
              command.opcode === AdminOpcode.DeleteIoCq ||
              command.opcode === AdminOpcode.CreateIoSq ||
              command.opcode === AdminOpcode.CreateIoCq ||
              command.opcode === AdminOpcode.DoorbellBufferConfig ||
              command.opcode === AdminOpcode.FormatNvm
            ) {
              // the host's idea of the queues may be stale now
              await recover();
              break;
            }
          }
        }
        for (const qid of new Set(outstanding.map((o) => o.qid))) await h.driver.ringSqTail(qid);
        if (rng.chance(0.01)) {
          // something disruptive while the batch is in flight
          await disruptive(rng.int(6));
        } else await reapOutstanding();
      } else if (k < 960) {
        await disruptive(rng.int(6));
      } else if (k < 980) {
        // register writes that may not disturb (or do): INTMS/INTMC, CC with random bits, AQA/ASQ/ACQ while enabled
        const reg = rng.pick([
          Reg.INTMS,
          Reg.INTMC,
          Reg.CC,
          Reg.AQA,
          Reg.ASQ,
          Reg.ACQ,
          Reg.CMBMSC,
          Reg.PMRCTL,
          Reg.BPRSEL,
          0x3c,
          0xe1c,
          rng.int(0x1000) & ~3,
        ]);
        const value = rng.chance(0.5) ? rng.u32() : rng.int(16);
        await reapOutstanding();
        if (reg === Reg.INTMS || reg === Reg.INTMC) {
          await h.driver.write32(reg, value);
        } else {
          await disrupt('register write', () => h.driver.write32(reg, value));
        }
      } else {
        // doorbells past the tail, on missing queues, beyond the ring, CQ heads ahead of the tail
        await reapOutstanding();
        const qid = rng.chance(0.7) ? rng.int(5) : rng.int(0x400);
        const cq = rng.chance(0.5);
        const value = rng.chance(0.7) ? rng.int(300) : rng.u32() & 0xffff;
        await disrupt('doorbell', () => h.driver.write32(Reg.DOORBELLS + (qid * 2 + (cq ? 1 : 0)) * 4, value));
      }
      if (escaped) {
        finding('crash', escaped);
        break;
      }
      checkDeviceErrors();
      const every = options.progressEvery ?? 10000;
      if (options.onProgress && Math.floor(summary.commands / every) > reported) {
        reported = Math.floor(summary.commands / every);
        options.onProgress(summary.commands);
      }
    }
  } finally {
    summary.guestErrors += t ? t.h.log.entries.filter((e) => e.channel === 'guest').length : 0;
    await t?.h.close();
    process.off('unhandledRejection', onError);
    process.off('uncaughtException', onError);
  }
  summary.ms = Date.now() - started;
  return summary;

  async function disruptive(which: number): Promise<void> {
    const h = (t as Target).h;
    const target = t as Target;
    switch (which) {
      case 0:
        return disrupt('CC.EN=0', () => h.driver.write32(Reg.CC, 0));
      case 1:
        return disrupt('shutdown', async () =>
          h.driver.write32(Reg.CC, ((await h.driver.read32(Reg.CC)) & ~0xc000) | (rng.chance(0.5) ? 0x4000 : 0x8000)),
        );
      case 2:
        return disrupt('NSSR', () => h.driver.write32(Reg.NSSR, rng.chance(0.9) ? NSSR_MAGIC : rng.u32()));
      case 3:
        return disrupt('FLR', async () => {
          if (!target.pcieCap) return;
          const devctl = (await h.configRead32(target.pcieCap + 8)) & 0xffff;
          await h.client.regionWrite(RegionIndex.CONFIG, target.pcieCap + 8, Buffer.from([devctl & 0xff, (devctl >> 8) | 0x80]));
        });
      case 4:
        return disrupt('DEVICE_RESET', () => h.client.request(Command.DEVICE_RESET));
      default:
        return disrupt('CC toggle', async () => {
          await h.driver.write32(Reg.CC, 0);
          await h.driver.write32(Reg.CC, rng.u32() | 1);
        });
    }
  }
}

/** Config-space offset of capability `id` (0 when absent). */
async function findCapability(h: NvmeHarness, id: number): Promise<number> {
  let at = (await h.configRead32(0x34)) & 0xfc;
  for (let hops = 0; at && hops < 48; hops++) {
    const header = await h.configRead32(at);
    if ((header & 0xff) === id) return at;
    at = (header >> 8) & 0xfc;
  }
  return 0;
}

/** The one-line summary the scripts and tests print. */
export function formatNvmeSummary(s: NvmeFuzzSummary): string {
  const statuses = Object.entries(s.statuses)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const disruptions = Object.entries(s.disruptions)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const other = s.findings.filter((f) => f.kind !== 'crash' && f.kind !== 'hang').length;
  return `nvme fuzz (seed ${s.seed}): ${s.commands} commands sent, ${s.completions} completions, crashes ${s.crashes}, hangs ${s.hangs}, other findings ${other}, dropped by resets ${s.dropped}, lost to CFS ${s.lostToCfs}, harnesses ${s.harnesses}, ${(s.ms / 1000).toFixed(1)} s; disruptions: ${disruptions}; statuses: ${statuses}`;
}
