/**
 * Read, Write, Compare, Verify and Write Zeroes on a namespace whose LBA format carries metadata
 * (NVM command set §5.2, §5.3): the metadata travels interleaved in the data buffer (extended LBA,
 * FLBAS bit 4) or through MPTR, is kept in the namespace's metadata sidecar, and — with protection
 * information — is generated (PRACT) and checked (PRCHK) here. Namespaces without metadata keep
 * the plain handlers and their zero-copy path: {@link registerMetadataIo} routes per command.
 */
import { CommandError } from '../command-error.ts';
import type { ControllerCore } from '../core.ts';
import { PI_TUPLE_BYTES } from '../lba-format.ts';
import { metadataSegments } from '../metadata-pointer.ts';
import type { MetadataStore } from '../metadata-store.ts';
import type { Namespace } from '../namespace.ts';
import { IoOpcode } from '../opcodes.ts';
import {
  checkProtection,
  generateProtection,
  type ProtectionFields,
  type ProtectionLayout,
  protectionFieldsOf,
  protectionLayout,
  requireConsistentReferenceTag,
} from '../pi/protection.ts';
import type { CommandContext, CommandHandler, CommandResult } from '../registry.ts';
import { Status } from '../status.ts';
import { requireNamespace, requireRange } from './common.ts';
import { requireReadable } from './write-uncorrectable.ts';

/** One command against a namespace with metadata, validated. */
interface MetadataCommand {
  ns: Namespace;
  store: MetadataStore;
  slba: bigint;
  nlb: number;
  lbaSize: number;
  ms: number;
  layout: ProtectionLayout | undefined;
  fields: ProtectionFields;
  /** The metadata moves with the command; false when it is PI only and PRACT inserts/strips it. */
  moved: boolean;
}

/** Blocks per step when Verify and Write Zeroes walk a range (bounds memory for 65536-block commands). */
const STEP_BLOCKS = 256;

/** Namespace, MDTS (counting interleaved metadata), LBA range, then the type 1 ILBRT rule. */
function prepare(core: ControllerCore, ctx: CommandContext, checkMdts: boolean): MetadataCommand {
  const ns = requireNamespace(ctx);
  const store = ns.metadata as MetadataStore;
  const slba = ctx.entry.qw10;
  const nlb = (ctx.entry.cdw12 & 0xffff) + 1;
  const ms = ns.metadataSize;
  const layout = protectionLayout(ns.format);
  const fields = protectionFieldsOf(ctx.entry);
  const moved = !(layout && fields.pract && ms === PI_TUPLE_BYTES);
  if (checkMdts) core.transfer.checkMdts(nlb * (ns.lbaSize + (ns.format.extended && moved ? ms : 0)));
  requireRange(ns, slba, nlb);
  if (layout) requireConsistentReferenceTag(layout, fields, slba);
  return { ns, store, slba, nlb, lbaSize: ns.lbaSize, ms, layout, fields, moved };
}

/** The command's data and metadata from the host (metadata zero-filled when not moved). */
async function fromHost(core: ControllerCore, ctx: CommandContext, c: MetadataCommand): Promise<{ data: Uint8Array; meta: Uint8Array }> {
  const { entry } = ctx;
  const dataBytes = c.nlb * c.lbaSize;
  const metaBytes = c.nlb * c.ms;
  if (!c.moved) return { data: await core.transfer.fromHost(entry, dataBytes), meta: new Uint8Array(metaBytes) };
  if (c.ns.format.extended) {
    const buf = await core.transfer.fromHost(entry, dataBytes + metaBytes);
    const data = new Uint8Array(dataBytes);
    const meta = new Uint8Array(metaBytes);
    const stride = c.lbaSize + c.ms;
    for (let i = 0; i < c.nlb; i++) {
      data.set(buf.subarray(i * stride, i * stride + c.lbaSize), i * c.lbaSize);
      meta.set(buf.subarray(i * stride + c.lbaSize, (i + 1) * stride), i * c.ms);
    }
    return { data, meta };
  }
  const data = await core.transfer.fromHost(entry, dataBytes);
  const meta = await core.transfer.copyFromHost(await metadataSegments(core.memory, entry, metaBytes, false), metaBytes);
  return { data, meta };
}

/** Sends data and (when moved) metadata to the host, interleaved or through MPTR. */
async function toHost(core: ControllerCore, ctx: CommandContext, c: MetadataCommand, data: Uint8Array, meta: Uint8Array): Promise<void> {
  const { entry } = ctx;
  if (!c.moved) return core.transfer.toHost(entry, data);
  if (c.ns.format.extended) {
    const stride = c.lbaSize + c.ms;
    const buf = new Uint8Array(c.nlb * stride);
    for (let i = 0; i < c.nlb; i++) {
      buf.set(data.subarray(i * c.lbaSize, (i + 1) * c.lbaSize), i * stride);
      buf.set(meta.subarray(i * c.ms, (i + 1) * c.ms), i * stride + c.lbaSize);
    }
    return core.transfer.toHost(entry, buf);
  }
  await core.transfer.toHost(entry, data);
  await core.transfer.copyToHost(await metadataSegments(core.memory, entry, meta.byteLength, true), meta);
}

async function stored(c: MetadataCommand, slba = c.slba, nlb = c.nlb): Promise<{ data: Uint8Array; meta: Uint8Array }> {
  const [data, meta] = await Promise.all([c.ns.read(slba, nlb), c.store.read(slba, nlb)]);
  return { data, meta };
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Replaces the handlers of `opcodes` on namespaces with metadata; others keep the plain handler. */
export function registerMetadataIo(core: ControllerCore): void {
  const route = (opcode: number, handler: CommandHandler): void => {
    const plain = core.io.get(opcode);
    if (!plain) throw new Error(`metadata I/O: opcode 0x${opcode.toString(16)} has no plain handler to route around`);
    core.io.register(opcode, plain.name, (ctx) => (ctx.namespace?.metadata ? handler(ctx) : plain.handler(ctx)), plain.effects, true);
  };
  const durable = (cdw12: number) => ((cdw12 >>> 30) & 1) === 1 || !core.features.volatileWriteCache;

  route(IoOpcode.Read, async (ctx): Promise<CommandResult> => {
    const c = prepare(core, ctx, true);
    requireReadable(core, c.ns, c.slba, c.nlb);
    const { data, meta } = await stored(c);
    if (c.layout) checkProtection(c.layout, c.fields, c.slba, data, meta);
    await toHost(core, ctx, c, data, meta);
    core.health.hostReads++;
    core.health.sectorsRead += BigInt(data.byteLength >>> 9);
    core.stats.bytesRead += data.byteLength;
    return {};
  });

  route(IoOpcode.Write, async (ctx): Promise<CommandResult> => {
    const c = prepare(core, ctx, true);
    const { data, meta } = await fromHost(core, ctx, c);
    if (c.layout && c.fields.pract) generateProtection(c.layout, c.fields, c.slba, data, meta);
    else if (c.layout) checkProtection(c.layout, c.fields, c.slba, data, meta);
    const sync = durable(ctx.entry.cdw12);
    await c.store.write(c.slba, meta);
    await c.ns.write(c.slba, data, sync);
    if (sync) await c.store.flush();
    core.health.hostWrites++;
    core.health.sectorsWritten += BigInt(data.byteLength >>> 9);
    core.stats.bytesWritten += data.byteLength;
    return {};
  });

  route(IoOpcode.Compare, async (ctx): Promise<CommandResult> => {
    const c = prepare(core, ctx, true);
    requireReadable(core, c.ns, c.slba, c.nlb);
    const media = await stored(c);
    if (c.layout) checkProtection(c.layout, c.fields, c.slba, media.data, media.meta);
    const host = await fromHost(core, ctx, c);
    if (!equal(host.data, media.data) || (c.moved && !equal(host.meta, media.meta))) {
      throw new CommandError(Status.CompareFailure, 'compare mismatch', false);
    }
    return {};
  });

  route(IoOpcode.Verify, async (ctx): Promise<CommandResult> => {
    const c = prepare(core, ctx, false);
    requireReadable(core, c.ns, c.slba, c.nlb);
    if (!c.layout || c.fields.prchk === 0) return {};
    for (let done = 0; done < c.nlb; done += STEP_BLOCKS) {
      const n = Math.min(STEP_BLOCKS, c.nlb - done);
      const slba = c.slba + BigInt(done);
      const { data, meta } = await stored(c, slba, n);
      // Reference tags continue from the command's ILBRT across steps.
      checkProtection(c.layout, { ...c.fields, ilbrt: (c.fields.ilbrt + done) >>> 0 }, slba, data, meta);
    }
    return {};
  });

  route(IoOpcode.WriteZeroes, async (ctx): Promise<CommandResult> => {
    const c = prepare(core, ctx, false);
    // Deallocated: data and metadata read 0h, PI FFh (checks off) — unless PRACT asks for real PI.
    await c.ns.deallocate(c.slba, c.nlb);
    if (c.layout && c.fields.pract) {
      const zeroes = new Uint8Array(Math.min(STEP_BLOCKS, c.nlb) * c.lbaSize);
      for (let done = 0; done < c.nlb; done += STEP_BLOCKS) {
        const n = Math.min(STEP_BLOCKS, c.nlb - done);
        const meta = new Uint8Array(n * c.ms);
        const fields = { ...c.fields, ilbrt: (c.fields.ilbrt + done) >>> 0 };
        generateProtection(c.layout, fields, c.slba + BigInt(done), zeroes.subarray(0, n * c.lbaSize), meta);
        await c.store.write(c.slba + BigInt(done), meta);
      }
    }
    if (durable(ctx.entry.cdw12)) await c.ns.flush();
    core.health.hostWrites++;
    return {};
  });
}
