import { CommandError } from '../command-error.ts';
import type { ControllerCore } from '../core.ts';
import type { Namespace } from '../namespace.ts';
import { AdminOpcode } from '../opcodes.ts';
import type { CommandResult } from '../registry.ts';
import { Status } from '../status.ts';
import { LogPageId } from './log-pages.ts';

/** Self-test Code (STC) of the Device Self-test command (NVMe 2.0 base §5.9, Figure 185). */
export const SelfTestCode = { Short: 0x1, Extended: 0x2, Abort: 0xf } as const;

/** Self-test Result of a Device Self-test log entry (NVMe 2.0 base §5.16.1.7, Figure 213). */
export const SelfTestResult = {
  NoError: 0x0,
  AbortedByCommand: 0x1,
  AbortedByControllerReset: 0x2,
  AbortedNamespaceRemoved: 0x3,
  AbortedByFormat: 0x4,
  SegmentFailed: 0x7,
  /** An unused entry of the log. */
  Unused: 0xf,
} as const;

/** The segments that can fail here (NVMe 2.0 base §8.1.x, Device Self-test operations). */
const Segment = { SmartCheck: 2, MediaCheck: 7 } as const;
/** Valid Diagnostic Information bits of a log entry. */
const Valid = { Nsid: 1, Flba: 2, Sct: 4, Sc: 8 } as const;
const LOG_ENTRIES = 20;
const ENTRY_BYTES = 28;
const BROADCAST = 0xffffffff;

interface Running {
  code: number;
  namespaces: Namespace[];
  startedAt: number;
  durationMs: number;
  /** The queue engine's reset epoch at start: a different one means a Controller Level Reset happened. */
  epoch: number;
  timer: ReturnType<typeof setTimeout>;
}

interface Entry {
  code: number;
  result: number;
  segment: number;
  nsid: number;
  valid: number;
  flba: bigint;
  /** Status of the failure, (SCT << 8) | SC. */
  status: number;
  poh: bigint;
}

/** The Device Self-test operation of one controller and its results log. */
class SelfTests {
  private running: Running | undefined;
  /** Newest first, at most {@link LOG_ENTRIES}. */
  private readonly results: Entry[] = [];

  constructor(private readonly core: ControllerCore) {}

  start(code: number, namespaces: Namespace[]): void {
    this.settle();
    if (this.running) throw new CommandError(Status.DeviceSelfTestInProgress, `self-test ${this.running.code} still running`);
    const o = this.core.options.deviceSelfTest;
    const durationMs = code === SelfTestCode.Short ? o.shortMs : o.extendedMs;
    const timer = setTimeout(() => this.settle(), durationMs);
    timer.unref(); // a test in progress never keeps the process alive
    this.running = { code, namespaces, startedAt: Date.now(), durationMs, epoch: this.core.queues.epoch, timer };
  }

  /** Device Self-test with STC Fh: aborts the operation in progress, if any. */
  abort(): void {
    this.settle();
    if (this.running) this.end(SelfTestResult.AbortedByCommand);
  }

  /** A Format NVM of these namespaces aborts a test that includes any of them. */
  formatting(namespaces: readonly Namespace[]): void {
    this.settle();
    if (this.running?.namespaces.some((ns) => namespaces.includes(ns))) this.end(SelfTestResult.AbortedByFormat);
  }

  /** Log page 06h (NVMe 2.0 base Figure 212). */
  page(): Uint8Array {
    this.settle();
    const out = new Uint8Array(4 + LOG_ENTRIES * ENTRY_BYTES);
    const v = new DataView(out.buffer);
    if (this.running) {
      const done = Math.floor(((Date.now() - this.running.startedAt) * 100) / this.running.durationMs);
      v.setUint8(0, this.running.code);
      v.setUint8(1, Math.min(99, done));
    }
    for (let i = 0; i < LOG_ENTRIES; i++) {
      const o = 4 + i * ENTRY_BYTES;
      const e = this.results[i];
      if (!e) {
        v.setUint8(o, SelfTestResult.Unused);
        continue;
      }
      v.setUint8(o, (e.code << 4) | e.result);
      v.setUint8(o + 1, e.segment);
      v.setUint8(o + 2, e.valid);
      v.setBigUint64(o + 4, e.poh, true);
      v.setUint32(o + 12, e.nsid, true);
      v.setBigUint64(o + 16, e.flba, true);
      v.setUint8(o + 24, e.status >>> 8);
      v.setUint8(o + 25, e.status & 0xff);
    }
    return out;
  }

  /**
   * Brings the operation up to date: a reset since the start aborted it; past its duration it
   * completed. Called by the timer and before anything reads or changes the state, so a reset is
   * seen as soon as anything could observe it.
   */
  private settle(): void {
    const r = this.running;
    if (!r) return;
    if (r.epoch !== this.core.queues.epoch) this.end(SelfTestResult.AbortedByControllerReset);
    else if (Date.now() - r.startedAt >= r.durationMs) this.complete(r);
  }

  /** Runs the segments' checks on the state at completion; the first failure is the result. */
  private complete(r: Running): void {
    if (r.namespaces.some((ns) => this.core.namespaces.active(ns.nsid) !== ns)) {
      this.end(SelfTestResult.AbortedNamespaceRemoved);
      return;
    }
    // SMART check: a critical warning (e.g. temperature over its threshold) fails the segment.
    if (this.core.health.criticalWarning !== 0) {
      this.end(SelfTestResult.SegmentFailed, { segment: Segment.SmartCheck });
      return;
    }
    // Media check (extended only): reads every LBA, so a block marked uncorrectable fails it.
    if (r.code === SelfTestCode.Extended) {
      for (const ns of r.namespaces) {
        const lba = ns.uncorrectable.firstIn(0n, ns.blocks);
        if (lba === undefined) continue;
        this.end(SelfTestResult.SegmentFailed, {
          segment: Segment.MediaCheck,
          nsid: ns.nsid,
          flba: lba,
          status: Status.UnrecoveredReadError,
          valid: Valid.Nsid | Valid.Flba | Valid.Sct | Valid.Sc,
        });
        return;
      }
    }
    this.end(SelfTestResult.NoError);
  }

  private end(result: number, failure: Partial<Pick<Entry, 'segment' | 'nsid' | 'flba' | 'status' | 'valid'>> = {}): void {
    const r = this.running as Running;
    clearTimeout(r.timer);
    this.running = undefined;
    this.results.unshift({
      code: r.code,
      result,
      segment: failure.segment ?? 0,
      nsid: failure.nsid ?? 0,
      valid: failure.valid ?? 0,
      flba: failure.flba ?? 0n,
      status: failure.status ?? 0,
      poh: this.core.health.powerOnHours,
    });
    if (this.results.length > LOG_ENTRIES) this.results.pop();
  }
}

const selfTests = new WeakMap<ControllerCore, SelfTests>();

/** Tells a running Device Self-test that Format NVM erases `namespaces` (it is aborted if it includes one). */
export function formattingNamespaces(core: ControllerCore, namespaces: readonly Namespace[]): void {
  selfTests.get(core)?.formatting(namespaces);
}

/**
 * Device Self-test (NVMe 2.0 base §5.9; OACS bit 4) and its log page 06h. A short or extended
 * operation runs in the background for `options.deviceSelfTest` ms, one at a time per controller
 * (DSTO bit 0): NSID 0 tests the controller only, FFFFFFFFh it and every active namespace, an
 * active NSID it and that namespace.
 */
export function registerDeviceSelfTest(core: ControllerCore): void {
  const tests = new SelfTests(core);
  selfTests.set(core, tests);
  core.logPages.set(LogPageId.DeviceSelfTest, () => tests.page());
  core.admin.register(AdminOpcode.DeviceSelfTest, 'Device Self-test', (ctx): CommandResult => {
    const stc = ctx.entry.cdw10 & 0xf;
    const nsid = ctx.entry.nsid;
    if (stc === SelfTestCode.Abort) {
      tests.abort();
      return {};
    }
    if (stc !== SelfTestCode.Short && stc !== SelfTestCode.Extended)
      throw new CommandError(Status.InvalidField, `Device Self-test code 0x${stc.toString(16)}`);
    let namespaces: Namespace[];
    if (nsid === 0) namespaces = [];
    else if (nsid === BROADCAST) namespaces = core.namespaces.activeNamespaces();
    else {
      const ns = ctx.namespace;
      if (!ns) throw new CommandError(Status.InvalidNamespaceOrFormat, `Device Self-test of nsid ${nsid}`, true, { nsid });
      namespaces = [ns];
    }
    tests.start(stc, namespaces);
    return {};
  });
}
