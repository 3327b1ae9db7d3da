import type { ResolvedOptions } from './options.ts';

/** Feature identifiers (NVMe 2.0 base §5.27.1, Figure 317). */
export const FeatureId = {
  Arbitration: 0x01,
  PowerManagement: 0x02,
  TemperatureThreshold: 0x04,
  ErrorRecovery: 0x05,
  VolatileWriteCache: 0x06,
  NumberOfQueues: 0x07,
  InterruptCoalescing: 0x08,
  InterruptVectorConfig: 0x09,
  WriteAtomicityNormal: 0x0a,
  AsyncEventConfig: 0x0b,
} as const;

/** Current values of the controller-scoped features kept here (others live in their owners). */
export class FeatureState {
  arbitration = 0;
  powerManagement = 0;
  errorRecovery = 0;
  volatileWriteCache = true;
  writeAtomicityNormal = 0;
  /** Allocated I/O queues, 0-based (NSQA / NCQA). */
  sqAllocated: number;
  cqAllocated: number;
  /** Number of Queues may be set once per controller enable (§5.27.1.7). */
  queuesSet = false;

  constructor(private readonly options: ResolvedOptions) {
    this.sqAllocated = options.maxIoQueues - 1;
    this.cqAllocated = options.maxIoQueues - 1;
  }

  reset(): void {
    this.arbitration = 0;
    this.powerManagement = 0;
    this.errorRecovery = 0;
    this.volatileWriteCache = true;
    this.writeAtomicityNormal = 0;
    this.sqAllocated = this.options.maxIoQueues - 1;
    this.cqAllocated = this.options.maxIoQueues - 1;
    this.queuesSet = false;
  }
}
