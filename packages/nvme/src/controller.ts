import { ControllerMemoryBuffer } from './cmb.ts';
import { registerBuiltinCommands } from './commands.ts';
import type { ControllerCore } from './core.ts';
import { DataTransfer } from './data-transfer.ts';
import { ErrorLog } from './error-log.ts';
import { AsyncEvents } from './events.ts';
import { CommandExecutor } from './executor.ts';
import { FeatureState } from './features.ts';
import { Health } from './health.ts';
import type { NvmeControllerHost } from './host.ts';
import { ERROR_LOG_ENTRIES } from './identify-data.ts';
import { InterruptController } from './interrupts.ts';
import { BusMemory, type LocalWindow } from './memory.ts';
import { NamespaceSet } from './namespace-set.ts';
import { type NvmeControllerOptions, type ResolvedOptions, resolveOptions } from './options.ts';
import { PersistentMemoryRegion } from './pmr.ts';
import { QueueEngine } from './queue-engine.ts';
import { CompletionQueue, SubmissionQueue } from './queues.ts';
import { RegisterFile } from './register-file.ts';
import { buildCap, Csts, cc, MPS_MAX, MPS_MIN, Reg } from './registers.ts';
import {
  type CommandHandler,
  type CommandHook,
  type CommandOptions,
  CommandRegistry,
  type DataDirection,
  dataDirection,
  type LogPageProvider,
} from './registry.ts';
import { ShadowDoorbells } from './shadow-doorbells.ts';
import { createStats, type NvmeStats } from './stats.ts';
import { NamespaceTimings } from './timing/namespace-timings.ts';

/** PCI class code of an NVMe I/O controller (mass storage, NVM, NVMe). */
export const NVME_CLASS_CODE = 0x010802;

/** What the PCI integrator needs to lay out BARs and MSI-X. */
export interface NvmeBarLayout {
  /** Bytes of BAR0 used by registers + doorbells (power of two, ≥ 16 KiB). MSI-X may follow it. */
  registerBytes: number;
  interruptVectors: number;
  cmb?: { bar: number; barOffset: number; size: number };
  pmr?: { bar: number; size: number };
}

/**
 * An NVMe 2.0 controller core (NVM command set) independent of PCI plumbing.
 * MMIO handlers are synchronous; doorbells schedule queue work through `options.schedule`.
 */
export class NvmeController implements ControllerCore {
  readonly options: ResolvedOptions;
  readonly stats: NvmeStats = createStats();
  readonly memory: BusMemory;
  readonly transfer: DataTransfer;
  readonly events: AsyncEvents;
  readonly namespaces: NamespaceSet;
  readonly features: FeatureState;
  readonly interrupts: InterruptController;
  readonly shadow: ShadowDoorbells;
  readonly queues: QueueEngine;
  readonly errorLog = new ErrorLog(ERROR_LOG_ENTRIES);
  readonly health: Health;
  readonly admin = new CommandRegistry('admin');
  readonly io = new CommandRegistry('I/O');
  readonly logPages = new Map<number, LogPageProvider>();
  readonly cmb: ControllerMemoryBuffer | undefined;
  readonly pmr: PersistentMemoryRegion | undefined;
  private readonly executor: CommandExecutor;
  private host: NvmeControllerHost | undefined;
  private readonly regs: RegisterFile;
  private shutdownWork: Promise<void> | undefined;
  private shutdownToken: object | undefined;

  /** Opens namespace images and builds the controller. */
  static async create(options: NvmeControllerOptions, host?: NvmeControllerHost): Promise<NvmeController> {
    const c = new NvmeController(resolveOptions(options));
    try {
      await c.namespaces.openConfigured();
    } catch (err) {
      await c.namespaces.closeAll();
      throw err;
    }
    if (host) c.attach(host);
    return c;
  }

  private constructor(options: ResolvedOptions) {
    this.options = options;
    this.cmb = options.cmb ? new ControllerMemoryBuffer(options.cmb) : undefined;
    this.pmr = options.pmr ? new PersistentMemoryRegion(options.pmr) : undefined;
    const cmb = this.cmb;
    const pmr = this.pmr;
    const windows: LocalWindow[] = [];
    if (cmb)
      windows.push({
        name: 'cmb',
        memory: cmb.memory,
        get busAddress() {
          return cmb.busAddress;
        },
      });
    if (pmr)
      windows.push({
        name: 'pmr',
        memory: pmr.memory,
        get busAddress() {
          return pmr.busAddress;
        },
      });
    this.memory = new BusMemory(() => this.host?.dma, windows, this.stats);
    this.transfer = new DataTransfer(this.memory, () => this.pageSize(), options.mdts ? 4096 * 2 ** options.mdts : 0);
    this.events = new AsyncEvents(() => this.stats.asyncEventsCompleted++);
    this.namespaces = new NamespaceSet(options, this.events);
    this.features = new FeatureState(options);
    this.health = new Health(options.temperatureKelvin, this.events);
    this.interrupts = new InterruptController((v) => {
      this.stats.interruptsRaised++;
      this.host?.raiseInterrupt(v);
    }, options.interruptVectors);
    const stride = 4 << options.doorbellStrideShift;
    this.shadow = new ShadowDoorbells(this.memory, stride);
    this.queues = new QueueEngine({
      memory: this.memory,
      shadow: this.shadow,
      interrupts: this.interrupts,
      stats: this.stats,
      maxInflightPerQueue: options.maxInflightPerQueue,
      completionBatchUs: options.completionBatchUs,
      poll: options.doorbellStrategy === 'shadow-poll' ? options.shadowPoll : undefined,
      schedule: options.schedule,
      processing: () => this.processing,
      execute: (sq, entry) => this.executor.execute(sq, entry),
      raiseEvent: (e) => this.events.raise(e),
      guestError: (m, d) => this.guestError(m, d),
      fatal: (m, d, cause) => this.fatal(m, d, cause),
      vectorIdle: (v) => this.host?.clearInterrupt?.(v),
    });
    this.executor = new CommandExecutor({
      bus: this.memory,
      cmb: this.cmb?.memory,
      pmr: this.pmr?.memory,
      admin: this.admin,
      io: this.io,
      queues: this.queues,
      transfer: this.transfer,
      namespaces: this.namespaces,
      errorLog: this.errorLog,
      stats: this.stats,
      guestError: (m, d) => this.guestError(m, d),
      deviceError: (m, d) => this.deviceError(m, d),
    });
    this.regs = new RegisterFile(buildCap(options), options, this.interrupts, this.cmb, this.pmr, {
      ccWritten: (old, v) => this.writeCc(old, v),
      subsystemReset: () => this.subsystemReset(),
      doorbell: (index, v) => this.queues.doorbell(index, v),
      guestError: (m, d) => this.guestError(m, d),
      deviceError: (m, d) => this.deviceError(m, d),
    });
    registerBuiltinCommands(this);
    if (options.namespaces.some((ns) => ns.timing)) {
      // Outermost hook: extension hooks (fault injection) run inside the modelled time.
      this.executor.addHook(new NamespaceTimings((ns) => this.namespaces.configuredOptions(ns)?.timing).hook);
    }
  }

  // ---- host connection ---------------------------------------------------------------------

  /** A client connected: DMA and interrupts go through `host`. Pending doorbells are processed. */
  attach(host: NvmeControllerHost): void {
    this.host = host;
    for (const sq of this.queues.sqs.values()) if (!sq.empty || this.shadow.applies(sq.id)) this.queues.kick(sq);
  }

  /** The client went away; state is kept, queue processing pauses until the next attach. */
  detach(): void {
    this.host = undefined;
  }

  get cc(): number {
    return this.regs.cc;
  }

  get ready(): boolean {
    return (this.regs.csts & Csts.RDY) !== 0;
  }

  private get processing(): boolean {
    return this.ready && this.host !== undefined && this.shutdownWork === undefined && (this.regs.csts & Csts.CFS) === 0;
  }

  pageSize(): number {
    return 4096 << cc.mps(this.regs.cc);
  }

  layout(): NvmeBarLayout {
    const registerBytes = registerBytesFor(this.options.maxIoQueues, 4 << this.options.doorbellStrideShift);
    const out: NvmeBarLayout = { registerBytes, interruptVectors: this.options.interruptVectors };
    if (this.cmb && this.options.cmb) out.cmb = { bar: this.options.cmb.bar, barOffset: this.options.cmb.barOffset, size: this.cmb.size };
    if (this.pmr && this.options.pmr) out.pmr = { bar: this.options.pmr.bar, size: this.pmr.memory.byteLength };
    return out;
  }

  guestError(message: string, detail?: Record<string, unknown>): void {
    this.host?.guestError(message, detail);
  }

  private deviceError(message: string, detail?: Record<string, unknown>): void {
    if (this.host?.deviceError) this.host.deviceError(message, detail);
    else console.error(`[nvme ${this.options.serial}] ${message}`, detail ?? '');
  }

  private fatal(message: string, detail?: Record<string, unknown>, cause: 'guest' | 'device' = 'device'): void {
    this.regs.csts |= Csts.CFS;
    if (cause === 'guest') this.guestError(`controller fatal status: ${message}`, detail);
    else this.deviceError(`controller fatal status: ${message}`, detail);
  }

  // ---- BAR0 MMIO ---------------------------------------------------------------------------

  /** Guest read of BAR0 (registers, doorbells). Sizes 1, 2, 4, 8. */
  mmioRead(offset: number, size: number): bigint {
    this.stats.mmioReads++;
    return this.regs.read(offset, size);
  }

  /** Guest write to BAR0. 8-byte writes act high dword first, then low (CMBMSC rule, §3.1.4.13). */
  mmioWrite(offset: number, size: number, value: bigint): void {
    this.stats.mmioWrites++;
    this.regs.write(offset, size, value);
  }

  // ---- CC transitions (§3.5) ---------------------------------------------------------------

  private writeCc(old: number, v: number): void {
    if (cc.en(old) === 1 && cc.en(v) === 0) {
      this.controllerReset();
      this.regs.cc = v;
      return;
    }
    if (cc.en(old) === 0 && cc.en(v) === 1) this.enable();
    if (cc.shn(v) !== 0 && cc.shn(old) === 0) this.shutdown(cc.shn(v) === 2);
    else if (cc.shn(v) === 0 && cc.shn(old) !== 0 && this.shutdownWork === undefined) this.regs.csts &= ~Csts.SHST_MASK;
  }

  private enable(): void {
    const v = this.regs.cc;
    const asqs = (this.regs.aqa & 0xfff) + 1;
    const acqs = ((this.regs.aqa >>> 16) & 0xfff) + 1;
    const problem =
      cc.css(v) !== 0 && cc.css(v) !== 7 && !(cc.css(v) === 6 && this.options.zoned)
        ? `CC.CSS ${cc.css(v)} not supported`
        : cc.mps(v) < MPS_MIN || cc.mps(v) > MPS_MAX
          ? `CC.MPS ${cc.mps(v)} outside CAP.MPSMIN..MPSMAX`
          : asqs < 2 || acqs < 2
            ? `AQA sizes ${asqs}/${acqs}`
            : this.regs.asq === 0n || this.regs.acq === 0n
              ? 'ASQ/ACQ not set'
              : undefined;
    if (problem) {
      this.guestError(`controller enable refused: ${problem}`, { cc: v, aqa: this.regs.aqa });
      return;
    }
    this.queues.addCq(new CompletionQueue(0, this.regs.acq, acqs, 0, true, this.memory.windowAt(this.regs.acq)?.name === 'cmb'));
    this.queues.addSq(new SubmissionQueue(0, this.regs.asq, asqs, 0, 0, this.memory.windowAt(this.regs.asq)?.name === 'cmb'));
    this.regs.csts = (this.regs.csts & ~(Csts.SHST_MASK | Csts.CFS)) | Csts.RDY;
    this.stats.controllerEnables++;
  }

  /** Controller Level Reset (CC.EN 1→0, §3.7.2): queues deleted, features and events reset. */
  private controllerReset(): void {
    this.queues.reset();
    this.events.reset();
    this.features.reset();
    this.interrupts.reset();
    this.shadow.reset();
    this.regs.cc = 0;
    this.regs.csts &= Csts.NSSRO;
    this.shutdownWork = undefined;
    this.shutdownToken = undefined;
    this.stats.controllerResets++;
  }

  private subsystemReset(): void {
    this.controllerReset();
    this.regs.csts |= Csts.NSSRO;
  }

  /** CC.SHN (§3.6.1): stop processing, make namespaces and PMR durable, report SHST complete. */
  private shutdown(abrupt: boolean): void {
    this.stats.shutdowns++;
    this.regs.csts = (this.regs.csts & ~Csts.SHST_MASK) | Csts.SHST_OCCURRING;
    const token = {};
    this.shutdownToken = token;
    this.shutdownWork = (async () => {
      try {
        await this.namespaces.flushAll();
        await this.pmr?.flush();
      } catch (err) {
        this.deviceError(`shutdown flush failed${abrupt ? ' (abrupt)' : ''}`, { error: err });
      }
      if (this.shutdownToken === token) this.regs.csts = (this.regs.csts & ~Csts.SHST_MASK) | Csts.SHST_COMPLETE;
    })();
  }

  /** Resolves when a shutdown started by CC.SHN has completed. */
  async shutdownComplete(): Promise<void> {
    await this.shutdownWork;
  }

  /** Function Level Reset / vfio-user DEVICE_RESET: every register back to its power-on value. */
  reset(): void {
    this.controllerReset();
    this.regs.csts = 0;
    this.regs.aqa = 0;
    this.regs.asq = 0n;
    this.regs.acq = 0n;
    this.cmb?.reset();
    if (this.pmr) {
      this.pmr.flush().catch((err: unknown) => this.deviceError('PMR flush on reset failed', { error: err }));
      this.pmr.reset();
    }
  }

  /** Flushes namespaces and the PMR, then closes the images. */
  async close(): Promise<void> {
    this.queues.reset();
    await this.shutdownWork;
    await this.namespaces.flushAll();
    await this.pmr?.flush();
    await this.namespaces.closeAll();
  }

  // ---- environment and extension API -------------------------------------------------------

  /**
   * The PCI layer reports where the CMB / PMR BARs sit (config-space BAR writes, memory decode on),
   * or undefined. Used to resolve controller-local addresses until the guest programs CMBMSC/PMRMSC.
   */
  setBarAddress(bar: number, address: bigint | undefined): void {
    if (this.options.cmb && bar === this.options.cmb.bar) this.cmb?.setBarAddress(address);
    if (this.options.pmr && bar === this.options.pmr.bar) this.pmr?.setBarAddress(address);
  }

  /** Simulated composite temperature (Kelvin); crossing a threshold raises a SMART event. */
  setTemperature(kelvin: number): void {
    this.health.temperature = kelvin;
    this.health.evaluateTemperature();
  }

  /**
   * Adds an admin command (vendor opcodes C0h–FFh). Opcode bits 1:0 are its data direction (see
   * {@link DataDirection}); `opts.data`, when given, must match them. An opcode that is taken (a
   * built-in command or an earlier registration) throws unless `opts.replace`.
   */
  registerAdminCommand(opcode: number, handler: CommandHandler, opts: CommandOptions = {}): void {
    checkDirection('admin', opcode, opts.data);
    this.admin.register(opcode, opts.name ?? `vendor admin 0x${opcode.toString(16)}`, handler, opts.effects, opts.replace);
  }

  /**
   * Adds an I/O command (vendor opcodes 80h–FFh), with the same direction and replacement rules as
   * {@link registerAdminCommand}.
   */
  registerIoCommand(opcode: number, handler: CommandHandler, opts: CommandOptions = {}): void {
    checkDirection('I/O', opcode, opts.data);
    this.io.register(opcode, opts.name ?? `vendor I/O 0x${opcode.toString(16)}`, handler, opts.effects, opts.replace);
  }

  /** Adds a log page (vendor LIDs C0h–FFh); a LID that is taken throws unless `opts.replace`. */
  registerLogPage(lid: number, provider: LogPageProvider, opts: { replace?: boolean } = {}): void {
    if (!Number.isInteger(lid) || lid < 0 || lid > 0xff) throw new RangeError(`log page identifier ${lid} is not 0..0xff`);
    if (this.logPages.has(lid) && !opts.replace) {
      throw new Error(`log page 0x${lid.toString(16)} is already provided; pass { replace: true } to replace it`);
    }
    this.logPages.set(lid, provider);
  }

  /** Interposes on every command (fault injection, tracing). Returns a remover. */
  intercept(hook: CommandHook): () => void {
    return this.executor.addHook(hook);
  }
}

/** Throws when a declared data direction disagrees with the opcode's bits 1:0. */
function checkDirection(kind: string, opcode: number, declared: DataDirection | undefined): void {
  if (declared === undefined || declared === dataDirection(opcode)) return;
  const bits = ['none', 'toController', 'toHost', 'bidirectional'].indexOf(declared);
  const suggestion = (opcode & ~3) | bits;
  throw new RangeError(
    `${kind} opcode 0x${opcode.toString(16)}: bits 1:0 say '${dataDirection(opcode)}', not '${declared}' ` +
      `(NVMe opcodes carry their data direction; '${declared}' would be e.g. 0x${suggestion.toString(16)})`,
  );
}

/** Bytes of BAR0 taken by registers and doorbells (≥ 16 KiB, a power of two); MSI-X may follow. */
export function registerBytesFor(maxIoQueues: number, doorbellStride: number): number {
  const doorbellBytes = 2 * (maxIoQueues + 1) * doorbellStride;
  let registerBytes = 16384;
  while (registerBytes < Reg.DOORBELLS + doorbellBytes) registerBytes *= 2;
  return registerBytes;
}
