/**
 * NoLoad's vendor I/O commands: deflate compress / decompress (node:zlib) and CRC-32C over data in
 * the controller's CMB, in host memory (the command's data pointer) or in its namespace.
 *
 * Opcode = 80h | function << 2 | data direction (NVMe: opcode bits 1:0 — 00b no data, 01b host →
 * controller, 10b controller → host). The data pointer is the source when the opcode says host →
 * controller and the destination when it says controller → host; otherwise both sit in the CMB or
 * the namespace.
 *
 *   CDW10–11  SRC     namespace: SLBA; CMB: byte offset into the CMB; data pointer: unused
 *   CDW12     SRCLEN  namespace: bits 15:0 = NLB, 0-based (as Read); CMB and data pointer: bytes
 *   CDW13     CTL     bits 3:0 source, bits 7:4 destination (Place.*); bits 9:8 format (Format.*);
 *                     bits 15:12 deflate level 1–9 (0: zlib's default)
 *   CDW14     DST     CMB: byte offset; namespace: SLBA (bits 31:0)
 *   CDW15     DSTLEN  capacity of the destination in bytes (a namespace destination takes whole blocks)
 *
 * Completion: compress / decompress DW0 = output bytes, DW1 = CRC-32C of the output; CRC-32C
 * DW0 = the CRC, DW1 = bytes read. Output that does not fit: status OutputTooLarge with DW0 = the
 * bytes needed; input that does not inflate: CorruptInput.
 */
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { type CommandContext, CommandError, type CommandResult, Effects, type NvmeController, Status } from '@p2pkit/nvme';
import { crc32c } from './crc32c.ts';
import { type NoloadStats, Place, readSource, writeDestination } from './locations.ts';

// #region opcodes
/** NoLoad opcodes. */
// biome-ignore format: table
export const NoloadOpcode = {
  Compress: 0x84, CompressFromHost: 0x85, CompressToHost: 0x86,
  Decompress: 0x88, DecompressFromHost: 0x89, DecompressToHost: 0x8a,
  Crc32c: 0x8c, Crc32cFromHost: 0x8d,
} as const;
// #endregion opcodes

/** Container around the deflate stream (CTL bits 9:8). */
export const Format = { Gzip: 0, Zlib: 1, RawDeflate: 2 } as const;

/** Vendor-specific statuses (SCT 7h). */
export const NoloadStatus = { OutputTooLarge: 0x701, CorruptInput: 0x702 } as const;

/** CDW13 for a command. */
export function control(c: { source: number; destination?: number; format?: number; level?: number }): number {
  return (c.source & 0xf) | (((c.destination ?? 0) & 0xf) << 4) | (((c.format ?? Format.Gzip) & 3) << 8) | (((c.level ?? 0) & 0xf) << 12);
}

const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);
const deflate = promisify(zlib.deflate);
const inflate = promisify(zlib.inflate);
const deflateRaw = promisify(zlib.deflateRaw);
const inflateRaw = promisify(zlib.inflateRaw);

type Fn = 'compress' | 'decompress' | 'crc32c';

/** Runs in zlib's thread pool, so a large buffer never stalls the event loop (and the other queues). */
async function transform(fn: 'compress' | 'decompress', format: number, level: number, input: Uint8Array, limit: number): Promise<Buffer> {
  const options: zlib.ZlibOptions =
    fn === 'compress' ? { level: level === 0 ? zlib.constants.Z_DEFAULT_COMPRESSION : level } : { maxOutputLength: limit };
  if (format === Format.Gzip) return fn === 'compress' ? gzip(input, options) : gunzip(input, options);
  if (format === Format.Zlib) return fn === 'compress' ? deflate(input, options) : inflate(input, options);
  if (format === Format.RawDeflate) return fn === 'compress' ? deflateRaw(input, options) : inflateRaw(input, options);
  throw new CommandError(Status.InvalidField, `CTL format ${format} is reserved`);
}

// #region run
/** One NoLoad command: read the source, transform it, write the destination; DW0/DW1 as documented above. */
async function run(ctx: CommandContext, fn: Fn, stats: NoloadStats): Promise<CommandResult> {
  const ctl = ctx.entry.cdw13;
  const [source, destination, format, level] = [ctl & 0xf, (ctl >>> 4) & 0xf, (ctl >>> 8) & 3, (ctl >>> 12) & 0xf];
  // The data pointer may only be used the way the opcode's direction bits say (Linux maps it so).
  const pointerIn = ctx.direction === 'toController';
  const pointerOut = ctx.direction === 'toHost';
  if ((source === Place.DataPointer) !== pointerIn)
    throw new CommandError(Status.InvalidField, `CTL source ${source} disagrees with opcode 0x${ctx.entry.opcode.toString(16)}`);
  if (fn !== 'crc32c' && (destination === Place.DataPointer) !== pointerOut) {
    throw new CommandError(Status.InvalidField, `CTL destination ${destination} disagrees with opcode 0x${ctx.entry.opcode.toString(16)}`);
  }
  const input = await readSource(ctx, source);
  stats.commands[fn]++;
  stats.bytesIn += input.length;
  if (fn === 'crc32c') return { dw0: crc32c(input), dw1: input.length };
  const capacity = ctx.entry.cdw15;
  let output: Buffer;
  try {
    output = await transform(fn, format, level, input, capacity);
  } catch (e) {
    if (e instanceof CommandError) throw e;
    if (e instanceof RangeError) return { status: NoloadStatus.OutputTooLarge }; // inflated past DSTLEN
    return { status: NoloadStatus.CorruptInput };
  }
  if (output.length > capacity) return { status: NoloadStatus.OutputTooLarge, dw0: output.length };
  await writeDestination(ctx, destination, output);
  stats.bytesOut += output.length;
  return { dw0: output.length, dw1: crc32c(output) };
}
// #endregion run

// #region register
/** Registers the NoLoad commands on `controller`; returns their statistics (also log page C0h). */
export function registerNoloadCommands(controller: NvmeController): NoloadStats {
  const stats: NoloadStats = { commands: { compress: 0, decompress: 0, crc32c: 0 }, bytesIn: 0, bytesOut: 0 };
  const add = (opcode: number, fn: Fn, effects: number) =>
    controller.registerIoCommand(opcode, (ctx) => run(ctx, fn, stats), { name: `noload ${fn}`, effects });
  // A compress or decompress may write the namespace: Logical Block Content Change.
  for (const op of [NoloadOpcode.Compress, NoloadOpcode.CompressFromHost, NoloadOpcode.CompressToHost])
    add(op, 'compress', Effects.LbaContentChange);
  for (const op of [NoloadOpcode.Decompress, NoloadOpcode.DecompressFromHost, NoloadOpcode.DecompressToHost])
    add(op, 'decompress', Effects.LbaContentChange);
  for (const op of [NoloadOpcode.Crc32c, NoloadOpcode.Crc32cFromHost]) add(op, 'crc32c', Effects.None);
  return stats;
}
// #endregion register
