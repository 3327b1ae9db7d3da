/**
 * The logical blocks of one namespace that Write Uncorrectable marked (NVM command set §3.3.7):
 * reads of them fail with Unrecovered Read Error until they are written again. Kept as an
 * {@link IntervalSet} and persisted next to the image in `<image>.uncorrectable.json`, so a marked
 * block stays bad across a server restart like a real drive's media would; the sidecar is removed
 * when no block is marked.
 */
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { IntervalSet } from './interval-set.ts';

/** Identifies the sidecar format (a version bump would change it). */
const FORMAT = 'p2pkit-nvme-uncorrectable/1';

/** The sidecar's contents: ranges as [first LBA, block count] in decimal strings (JSON has no 64-bit integers). */
interface Sidecar {
  format: typeof FORMAT;
  lbaSize: number;
  ranges: [string, string][];
}

/** Where the marks of the image at `imagePath` are kept. */
function uncorrectableSidecarPath(imagePath: string): string {
  return `${imagePath}.uncorrectable.json`;
}

/** A namespace's blocks marked by Write Uncorrectable (`Namespace.uncorrectable`). */
export class UncorrectableBlocks {
  private readonly set = new IntervalSet();
  private saving: Promise<void> = Promise.resolve();

  private constructor(
    private readonly path: string,
    private readonly lbaShift: () => number,
  ) {}

  /**
   * The marks saved for `imagePath`, or none when `fresh` (a newly created image: a stale sidecar
   * is removed). Marks saved with another block size are converted to the blocks that cover them;
   * marks past `blocks` (the image shrank) are dropped. A sidecar that cannot be parsed throws:
   * forgetting bad blocks would turn failing reads into silent successes.
   */
  static async open(imagePath: string, lbaShift: () => number, blocks: bigint, fresh: boolean): Promise<UncorrectableBlocks> {
    const marks = new UncorrectableBlocks(uncorrectableSidecarPath(imagePath), lbaShift);
    if (fresh) {
      await unlink(marks.path).catch(() => {});
      return marks;
    }
    let text: string;
    try {
      text = await readFile(marks.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return marks;
      throw err;
    }
    const saved = parseSidecar(text, marks.path);
    const from = BigInt(saved.lbaSize);
    const to = BigInt(1 << lbaShift());
    for (const [slba, count] of saved.ranges) {
      const start = (BigInt(slba) * from) / to;
      const end = (BigInt(slba) * from + BigInt(count) * from + to - 1n) / to;
      marks.set.add(start, end < blocks ? end : blocks);
    }
    return marks;
  }

  /** Whether no block is marked (the hot paths' shortcut). */
  get empty(): boolean {
    return this.set.count === 0;
  }

  /** The lowest marked LBA in [slba, slba + count), if any. */
  firstIn(slba: bigint, count: bigint): bigint | undefined {
    return this.empty ? undefined : this.set.firstIn(slba, slba + count);
  }

  /** The marked ranges inside [slba, end) as [first LBA, end) pairs, ascending. */
  within(slba: bigint, end: bigint): Generator<[bigint, bigint]> {
    return this.set.within(slba, end);
  }

  /** Marks [slba, slba + count); resolves once the sidecar says so. */
  async mark(slba: bigint, count: bigint): Promise<void> {
    this.set.add(slba, slba + count);
    await this.save();
  }

  /** Unmarks [slba, slba + count) (the blocks were written); no I/O when none was marked. */
  async unmark(slba: bigint, count: bigint): Promise<void> {
    if (this.empty || !this.set.remove(slba, slba + count)) return;
    await this.save();
  }

  /** Unmarks every block (Format NVM erased the namespace). */
  async unmarkAll(): Promise<void> {
    if (this.empty) return;
    this.set.clear();
    await this.save();
  }

  /** Removes the sidecar (the image is being deleted). */
  async discard(): Promise<void> {
    this.set.clear();
    await this.saving.catch(() => {});
    await unlink(this.path).catch(() => {});
  }

  /** Waits for pending sidecar writes. */
  async settled(): Promise<void> {
    await this.saving.catch(() => {});
  }

  /** Writes the current marks (serialised: each write stores the newest state). */
  private save(): Promise<void> {
    const next = this.saving.catch(() => {}).then(() => this.write());
    this.saving = next;
    return next;
  }

  private async write(): Promise<void> {
    if (this.empty) {
      await unlink(this.path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      return;
    }
    const sidecar: Sidecar = {
      format: FORMAT,
      lbaSize: 1 << this.lbaShift(),
      ranges: this.set.entries().map(([s, e]) => [s.toString(), (e - s).toString()]),
    };
    // Write then rename: a crash leaves the old or the new list, never half of one.
    const tmp = `${this.path}.tmp`;
    await writeFile(tmp, `${JSON.stringify(sidecar)}\n`);
    await rename(tmp, this.path);
  }
}

function parseSidecar(text: string, path: string): Sidecar {
  const bad = (why: string): never => {
    throw new RangeError(`${path}: ${why}; delete it to forget the uncorrectable blocks it lists`);
  };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    bad('not JSON');
  }
  const s = value as Partial<Sidecar>;
  if (s?.format !== FORMAT) bad(`format is not ${FORMAT}`);
  if (s.lbaSize !== 512 && s.lbaSize !== 4096) bad(`lbaSize ${s.lbaSize}`);
  const decimal = /^\d{1,20}$/;
  if (
    !Array.isArray(s.ranges) ||
    !s.ranges.every((r) => Array.isArray(r) && r.length === 2 && r.every((x) => typeof x === 'string' && decimal.test(x)))
  )
    bad('ranges must be [first LBA, count] pairs of decimal strings');
  return s as Sidecar;
}
