import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReceivedChunk, UnixStream } from '../src/index.ts';

export function tempDir(): { path: string; cleanup(): void } {
  const path = mkdtempSync(join(tmpdir(), 'p2pkit-native-'));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** Wait until the stream has something to read, then read it. */
export function readOnce(stream: UnixStream, max = 4096): Promise<ReceivedChunk> {
  return new Promise((resolve, reject) => {
    stream.start(() => {
      try {
        const chunk = stream.read(max);
        if (chunk) resolve(chunk);
      } catch (e) {
        reject(e);
      }
    });
  });
}
