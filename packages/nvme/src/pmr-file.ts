import { open } from 'node:fs/promises';

/** A PMR backed by a file: contents loaded into memory, written back on flush. */
export interface PmrFile {
  memory: Uint8Array;
  /** Writes the memory back and fdatasyncs (pass as `PmrOptions.flush`). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens (or creates) `path` as a `size`-byte PMR. Production code maps a file/memfd through
 * `@p2pkit/native` so guest stores land directly; this portable variant copies on flush.
 */
export async function openPmrFile(path: string, size: number): Promise<PmrFile> {
  const file = await open(path, 'a+').then(async (h) => {
    await h.close();
    return open(path, 'r+');
  });
  if ((await file.stat()).size < size) await file.truncate(size);
  const memory = new Uint8Array(size);
  await file.read(memory, 0, size, 0);
  return {
    memory,
    async flush() {
      await file.write(memory, 0, size, 0);
      await file.datasync();
    },
    close: () => file.close(),
  };
}
