import type { CommandContext } from './registry.ts';
import { Status } from './status.ts';

/** Asynchronous event types (NVMe 2.0 §5.2, Figure 146). */
export const AsyncEventType = { Error: 0, Smart: 1, Notice: 2, IoCommandSet: 6, Vendor: 7 } as const;
/** Error status event info. */
export const ErrorEventInfo = { InvalidDoorbellRegister: 0x00, InvalidDoorbellValue: 0x01, PersistentInternalError: 0x03 } as const;
/** SMART / health event info. */
export const SmartEventInfo = { Reliability: 0x00, TemperatureThreshold: 0x01, SpareBelowThreshold: 0x02 } as const;
/** Notice event info. */
export const NoticeEventInfo = {
  NamespaceAttributeChanged: 0x00,
  FirmwareActivationStarting: 0x01,
  AsymmetricNamespaceAccessChange: 0x03,
} as const;

export interface AsyncEvent {
  type: number;
  info: number;
  /** Log page the host reads to clear the event. */
  logPage: number;
}

/** Outstanding AER limit: AERL is 0-based in Identify Controller. */
export const AER_LIMIT = 4;

/**
 * Asynchronous Event Request bookkeeping (§5.2): outstanding AER commands, queued events, and the
 * per-type masking that holds further events of a type until its log page is read with RAE = 0.
 */
export class AsyncEvents {
  private readonly requests: CommandContext[] = [];
  private readonly queued: AsyncEvent[] = [];
  private readonly masked = new Set<number>();
  /** Asynchronous Event Configuration (Feature 0Bh). */
  config = 0;

  constructor(private readonly onComplete: () => void) {}

  /** A new AER command; answered now if an event waits, otherwise kept outstanding. */
  request(ctx: CommandContext): { status: number } | undefined {
    if (this.requests.length >= AER_LIMIT) return { status: Status.AerLimitExceeded };
    this.requests.push(ctx);
    this.deliver();
    return undefined;
  }

  /** Whether the event is enabled by Feature 0Bh (§5.27.1.11); error events always are. */
  private enabled(e: AsyncEvent): boolean {
    if (e.type === AsyncEventType.Smart) return (this.config & 0xff) !== 0 && ((this.config >>> e.info) & 1) === 1;
    if (e.type === AsyncEventType.Notice && e.info === NoticeEventInfo.NamespaceAttributeChanged) return ((this.config >>> 8) & 1) === 1;
    if (e.type === AsyncEventType.Notice && e.info === NoticeEventInfo.FirmwareActivationStarting) return ((this.config >>> 9) & 1) === 1;
    if (e.type === AsyncEventType.Notice && e.info === NoticeEventInfo.AsymmetricNamespaceAccessChange)
      return ((this.config >>> 11) & 1) === 1;
    return true;
  }

  raise(e: AsyncEvent): void {
    if (!this.enabled(e)) return;
    if (this.queued.some((q) => q.type === e.type && q.info === e.info)) return;
    this.queued.push(e);
    this.deliver();
  }

  /** The host read log page `lid`; unless RAE, events of the matching type are unmasked. */
  logRead(lid: number, retain: boolean): void {
    if (retain) return;
    const type =
      lid === 0x01
        ? AsyncEventType.Error
        : lid === 0x02
          ? AsyncEventType.Smart
          : lid === 0x04 || lid === 0x0c // Changed Namespace List, Asymmetric Namespace Access
            ? AsyncEventType.Notice
            : undefined;
    if (type === undefined || !this.masked.delete(type)) return;
    this.deliver();
  }

  private deliver(): void {
    while (this.requests.length > 0) {
      const idx = this.queued.findIndex((e) => !this.masked.has(e.type));
      if (idx < 0) return;
      const [e] = this.queued.splice(idx, 1) as [AsyncEvent];
      const ctx = this.requests.shift() as CommandContext;
      this.masked.add(e.type);
      ctx.complete({ dw0: (e.type & 7) | ((e.info & 0xff) << 8) | ((e.logPage & 0xff) << 16) });
      this.onComplete();
    }
  }

  get outstanding(): number {
    return this.requests.length;
  }

  /** Controller reset: outstanding AERs are dropped (never completed), events and masks cleared. */
  reset(): void {
    this.requests.length = 0;
    this.queued.length = 0;
    this.masked.clear();
    this.config = 0;
  }
}
