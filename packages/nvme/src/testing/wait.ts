/** Polls `condition` on every event-loop turn until it holds; throws an Error after `timeoutMs`. */
export async function waitUntil(condition: () => boolean | Promise<boolean>, description: string, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}`);
    await new Promise((r) => setImmediate(r));
  }
}
