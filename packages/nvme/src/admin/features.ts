import { CommandError } from '../command-error.ts';
import type { ControllerCore } from '../core.ts';
import { FeatureId } from '../features.ts';
import { AdminOpcode } from '../opcodes.ts';
import type { CommandResult } from '../registry.ts';
import { Status } from '../status.ts';

/** One feature: current value, default value, setter (throws CommandError). */
interface FeatureHandler {
  get(cdw11: number): number;
  default(cdw11: number): number;
  set(cdw11: number): number | undefined;
}

const invalid = (message: string): never => {
  throw new CommandError(Status.InvalidField, message);
};

/** Get Features / Set Features (NVMe 2.0 base §5.15, §5.27); SEL, saveable bit, capabilities. */
export function registerFeatures(core: ControllerCore): void {
  const f = core.features;
  const irq = core.interrupts;
  const handlers = new Map<number, FeatureHandler>([
    [
      FeatureId.Arbitration,
      {
        get: () => f.arbitration,
        default: () => 0,
        set: (v) => {
          f.arbitration = v & 0xffff07;
          return undefined;
        },
      },
    ],
    [
      FeatureId.PowerManagement,
      {
        get: () => f.powerManagement,
        default: () => 0,
        set: (v) => {
          if ((v & 0x1f) !== 0) invalid(`power state ${v & 0x1f} > NPSS`);
          f.powerManagement = v & 0xff;
          return undefined;
        },
      },
    ],
    [
      FeatureId.TemperatureThreshold,
      {
        get: (cdw11) => {
          const { sel, under } = tempSelect(cdw11);
          return (under ? core.health.underThreshold : core.health.overThreshold) | (sel << 16) | ((under ? 1 : 0) << 20);
        },
        default: (cdw11) => (tempSelect(cdw11).under ? 0 : 343),
        set: (v) => {
          const { under } = tempSelect(v);
          if (under) core.health.underThreshold = v & 0xffff;
          else core.health.overThreshold = v & 0xffff;
          core.health.evaluateTemperature();
          return undefined;
        },
      },
    ],
    [
      FeatureId.ErrorRecovery,
      {
        get: () => f.errorRecovery,
        default: () => 0,
        set: (v) => {
          f.errorRecovery = v & 0xffff;
          return undefined;
        },
      },
    ],
    [
      FeatureId.VolatileWriteCache,
      {
        get: () => (f.volatileWriteCache ? 1 : 0),
        default: () => 1,
        set: (v) => {
          f.volatileWriteCache = (v & 1) === 1;
          return undefined;
        },
      },
    ],
    [
      FeatureId.NumberOfQueues,
      {
        get: () => f.sqAllocated | (f.cqAllocated << 16),
        default: () => (core.options.maxIoQueues - 1) * 0x10001,
        set: (v) => {
          const nsqr = v & 0xffff;
          const ncqr = v >>> 16;
          if (nsqr === 0xffff || ncqr === 0xffff) invalid('NSQR/NCQR of 65535');
          if (f.queuesSet && core.queues.ioQueues().sqs.length + core.queues.ioQueues().cqs.length > 0) {
            throw new CommandError(Status.CommandSequenceError, 'Number of Queues after I/O queues were created');
          }
          const max = core.options.maxIoQueues - 1;
          f.sqAllocated = Math.min(nsqr, max);
          f.cqAllocated = Math.min(ncqr, max);
          f.queuesSet = true;
          return f.sqAllocated | (f.cqAllocated << 16);
        },
      },
    ],
    [
      FeatureId.InterruptCoalescing,
      {
        get: () => irq.coalescing.threshold | (irq.coalescing.time << 8),
        default: () => 0,
        set: (v) => void irq.setCoalescing(v & 0xff, (v >>> 8) & 0xff),
      },
    ],
    [
      FeatureId.InterruptVectorConfig,
      {
        get: (cdw11) => {
          const iv = cdw11 & 0xffff;
          if (!irq.validVector(iv)) invalid(`interrupt vector ${iv}`);
          return iv | (irq.isCoalescingDisabled(iv) ? 1 << 16 : 0);
        },
        default: (cdw11) => cdw11 & 0xffff,
        set: (v) => {
          const iv = v & 0xffff;
          if (!irq.validVector(iv)) invalid(`interrupt vector ${iv}`);
          irq.setCoalescingDisabled(iv, (v & 0x10000) !== 0);
          return undefined;
        },
      },
    ],
    [
      FeatureId.WriteAtomicityNormal,
      {
        get: () => f.writeAtomicityNormal,
        default: () => 0,
        set: (v) => {
          f.writeAtomicityNormal = v & 1;
          return undefined;
        },
      },
    ],
    [
      FeatureId.AsyncEventConfig,
      {
        get: () => core.events.config,
        default: () => 0,
        set: (v) => {
          // Bits 9:0 (SMART, namespace attribute, firmware activation); bit 11 ANA change with ANA reporting.
          core.events.config = v & (0x3ff | (core.options.subsystem?.ana ? 1 << 11 : 0));
          return undefined;
        },
      },
    ],
  ]);

  const lookup = (fid: number): FeatureHandler => {
    const h = handlers.get(fid);
    if (!h) throw new CommandError(Status.InvalidField, `feature 0x${fid.toString(16)} not supported`);
    return h;
  };

  core.admin.register(AdminOpcode.SetFeatures, 'Set Features', (ctx): CommandResult => {
    const fid = ctx.entry.cdw10 & 0xff;
    const h = lookup(fid);
    if (ctx.entry.cdw10 >>> 31) throw new CommandError(Status.FeatureNotSaveable, `feature 0x${fid.toString(16)} is not saveable`);
    if (ctx.entry.nsid !== 0 && ctx.entry.nsid !== 0xffffffff) {
      throw new CommandError(Status.FeatureNotNamespaceSpecific, `feature 0x${fid.toString(16)} is not namespace specific`);
    }
    const dw0 = h.set(ctx.entry.cdw11);
    return { dw0: dw0 ?? 0 };
  });

  core.admin.register(AdminOpcode.GetFeatures, 'Get Features', (ctx): CommandResult => {
    const fid = ctx.entry.cdw10 & 0xff;
    const sel = (ctx.entry.cdw10 >>> 8) & 7;
    const h = lookup(fid);
    switch (sel) {
      case 0: // current
        return { dw0: h.get(ctx.entry.cdw11) };
      case 1: // default
      case 2: // saved (nothing is saveable: saved = default)
        return { dw0: h.default(ctx.entry.cdw11) };
      case 3: // supported capabilities: changeable, not saveable, not namespace specific
        return { dw0: 0x4 };
      default:
        throw new CommandError(Status.InvalidField, `SEL ${sel}`);
    }
  });
}

/** Temperature Threshold selector: TMPSEL must be 0 (composite) or Fh (all). */
function tempSelect(cdw11: number): { sel: number; under: boolean } {
  const sel = (cdw11 >>> 16) & 0xf;
  const thsel = (cdw11 >>> 20) & 3;
  if ((sel !== 0 && sel !== 0xf) || thsel > 1) invalid(`TMPSEL ${sel} / THSEL ${thsel}`);
  return { sel, under: thsel === 1 };
}
