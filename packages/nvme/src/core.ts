import type { ControllerMemoryBuffer } from './cmb.ts';
import type { DataTransfer } from './data-transfer.ts';
import type { ErrorLog } from './error-log.ts';
import type { AsyncEvents } from './events.ts';
import type { FeatureState } from './features.ts';
import type { Health } from './health.ts';
import type { InterruptController } from './interrupts.ts';
import type { BusMemory } from './memory.ts';
import type { NamespaceSet } from './namespace-set.ts';
import type { ResolvedOptions } from './options.ts';
import type { PersistentMemoryRegion } from './pmr.ts';
import type { QueueEngine } from './queue-engine.ts';
import type { CommandRegistry, LogPageProvider } from './registry.ts';
import type { ShadowDoorbells } from './shadow-doorbells.ts';
import type { NvmeStats } from './stats.ts';

/** What built-in command handlers see of the controller. */
export interface ControllerCore {
  readonly options: ResolvedOptions;
  readonly stats: NvmeStats;
  readonly memory: BusMemory;
  readonly transfer: DataTransfer;
  readonly namespaces: NamespaceSet;
  readonly queues: QueueEngine;
  readonly interrupts: InterruptController;
  readonly shadow: ShadowDoorbells;
  readonly events: AsyncEvents;
  readonly errorLog: ErrorLog;
  readonly health: Health;
  readonly features: FeatureState;
  readonly admin: CommandRegistry;
  readonly io: CommandRegistry;
  readonly logPages: Map<number, LogPageProvider>;
  readonly cmb: ControllerMemoryBuffer | undefined;
  readonly pmr: PersistentMemoryRegion | undefined;
  /** Current CC register value. */
  readonly cc: number;
  /** Memory page size from CC.MPS. */
  pageSize(): number;
  guestError(message: string, detail?: Record<string, unknown>): void;
}
