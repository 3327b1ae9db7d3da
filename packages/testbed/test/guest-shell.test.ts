import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, expect, it } from 'vitest';
import { guestShellArgs, openGuestShell } from '../src/guest-shell.ts';

const dir = mkdtempSync(join(tmpdir(), 'p2pkit-shell-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('puts the shell port on the second serial port and keeps the console on stdio', () => {
  expect(guestShellArgs('/tmp/x.sock')).toEqual(['-serial', 'mon:stdio', '-serial', 'unix:/tmp/x.sock,server=on,wait=off']);
});

it('pipes input to the guest port and its output back until the shell exits (the exit mark is not shown)', async () => {
  // Stands in for QEMU's ttyS1 socket: echoes what it gets, then the shell "exits".
  const path = join(dir, 'ttyS1.sock');
  const received: Buffer[] = [];
  const server = createServer((s: Socket) => {
    s.write('p2pkit guest shell: exit (or Ctrl-D) ends it\r\np2pkit-guest:/root# ');
    s.on('data', (b: Buffer) => {
      received.push(b);
      if (b.includes(0x04)) s.write('exit\r\n\r\nP2PKIT-SHELL-');
      if (b.includes(0x04))
        setTimeout(() => s.write('EXIT\r\n'), 20); // the mark split across writes
      else s.write(b);
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  const input = new PassThrough();
  const output = new PassThrough();
  const shown: Buffer[] = [];
  output.on('data', (b: Buffer) => shown.push(b));
  const scripts: string[] = [];
  const guest = {
    run: async (script: string) => {
      scripts.push(script);
      return { exitCode: 0 } as never;
    },
  };
  const done = openGuestShell(guest, path, { input, output });
  input.write('uname -r\n'); // typed before the shell is ready: held back until its greeting
  setTimeout(() => input.end(), 50); // end of input → Ctrl-D
  await done;
  server.close();
  expect(scripts[0]).toContain('/dev/ttyS1');
  expect(Buffer.concat(received).toString()).toBe('uname -r\n\x04');
  const text = Buffer.concat(shown).toString();
  expect(text).toContain('p2pkit-guest:/root# uname -r');
  expect(text).not.toContain('P2PKIT-SHELL');
});
