/** Plain counters; read them any time, reset with {@link resetStats}. */
export interface NvmeStats {
  mmioReads: number;
  mmioWrites: number;
  /** MMIO writes to the doorbell area (SQ tail + CQ head). */
  doorbellWrites: number;
  /** Shadow doorbell reads that found new SQ entries without an MMIO doorbell. */
  shadowDoorbellHits: number;
  /** 'shadow-poll': timer-driven polls of shadow SQ tails. */
  shadowPolls: number;
  /** 'shadow-poll': times a queue stopped polling (idle) and EventIdx asked for MMIO doorbells again. */
  shadowPollStops: number;
  adminCommands: Record<number, number>;
  ioCommands: Record<number, number>;
  /** Commands fetched per submission queue id (shows how the driver spreads I/O over queues). */
  commandsBySq: Record<number, number>;
  /** Completions posted with a non-success status. */
  commandErrors: number;
  completionsPosted: number;
  /**
   * Time I/O commands spent inside the controller, fetch to completion entry in the CQ, summed over
   * commands (µs). ÷ I/O commands = mean per command; × IOPS = mean commands held (Little's law).
   */
  ioHeldMicros: number;
  /** Completions that waited for a full CQ. */
  completionQueueFullStalls: number;
  interruptsRaised: number;
  ioSqCreated: number;
  ioSqCreatedInCmb: number;
  ioCqCreatedInCmb: number;
  dataTransferErrors: number;
  /** Bytes the controller moved to/from its own CMB/PMR (served locally). */
  localBytes: number;
  /** Bytes moved through the host DmaSpace. */
  dmaBytes: number;
  bytesRead: number;
  bytesWritten: number;
  controllerEnables: number;
  controllerResets: number;
  shutdowns: number;
  asyncEventsCompleted: number;
}

export function createStats(): NvmeStats {
  return {
    mmioReads: 0,
    mmioWrites: 0,
    doorbellWrites: 0,
    shadowDoorbellHits: 0,
    shadowPolls: 0,
    shadowPollStops: 0,
    adminCommands: {},
    ioCommands: {},
    commandsBySq: {},
    commandErrors: 0,
    completionsPosted: 0,
    ioHeldMicros: 0,
    completionQueueFullStalls: 0,
    interruptsRaised: 0,
    ioSqCreated: 0,
    ioSqCreatedInCmb: 0,
    ioCqCreatedInCmb: 0,
    dataTransferErrors: 0,
    localBytes: 0,
    dmaBytes: 0,
    bytesRead: 0,
    bytesWritten: 0,
    controllerEnables: 0,
    controllerResets: 0,
    shutdowns: 0,
    asyncEventsCompleted: 0,
  };
}

export function resetStats(stats: NvmeStats): void {
  Object.assign(stats, createStats());
}
