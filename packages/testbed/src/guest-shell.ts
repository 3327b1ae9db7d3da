/**
 * An interactive shell in a running guest, on its second serial port (ttyS1). QEMU serves that
 * port on a UNIX socket (boot with {@link guestShellArgs}); a guest job starts a login-less shell
 * with ttyS1 as its controlling terminal, and the host pipes a terminal (or any streams) to the
 * socket — no socat. The kernel console stays on ttyS0 (the run's console.log).
 */
import { connect, type Socket } from 'node:net';
import type { Guest } from './qemu.ts';

/** Printed on ttyS1 when the guest shell exits; the host stops piping there. */
const EXIT_MARK = Buffer.from('P2PKIT-SHELL-EXIT');
/** The shell's greeting (from its rc file): input is held back until it shows, so no typeahead is lost. */
const READY_MARK = 'p2pkit guest shell:';
/** Ctrl-] on the host detaches, as in telnet (the guest shell is left running). */
const DETACH = 0x1d;

/**
 * QEMU arguments for {@link openGuestShell}: serial 0 stays the console (stdio, as `-nographic`
 * sets it up), serial 1 listens on `socketPath` (≤ 107 bytes).
 */
export function guestShellArgs(socketPath: string): string[] {
  return ['-serial', 'mon:stdio', '-serial', `unix:${socketPath},server=on,wait=off`];
}

/** Streams of {@link openGuestShell}; default the process's stdin/stdout. */
export interface GuestShellIo {
  input?: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  output?: NodeJS.WritableStream & { columns?: number; rows?: number };
}

/** The job that starts the shell: bash (or sh) with the job helpers, on ttyS1, in its own session. */
function startScript(rows: number, cols: number): string {
  const term = (process.env.TERM ?? 'vt100').replace(/[^\w.-]/g, '');
  const rc = [
    '. /run/p2pkit/lib.sh',
    `export TERM=${term} PS1='p2pkit-guest:\\w# '`,
    'echo "p2pkit guest shell: exit (or Ctrl-D) ends it, Ctrl-] detaches. Helpers: nvme_ns_by_serial, p2pmem_dir, ..."',
  ].join('\n');
  // The inner setsid makes the shell a session leader before it opens ttyS1, so ttyS1 becomes its
  // controlling terminal (Ctrl-C, job control); the outer one lets the job return at once.
  const shell =
    'if command -v bash >/dev/null; then exec bash --rcfile /tmp/p2pkit-shellrc -i <>/dev/ttyS1 >&0 2>&1; ' +
    'else ENV=/tmp/p2pkit-shellrc exec sh -i <>/dev/ttyS1 >&0 2>&1; fi';
  return `printf '%s\\n' '${rc.replaceAll("'", "'\\''")}' >/tmp/p2pkit-shellrc
stty -F /dev/ttyS1 sane rows ${rows} cols ${cols} 2>/dev/null
setsid -f sh -c 'cd /root 2>/dev/null || cd /; setsid -w sh -c "${shell.replaceAll('"', '\\"')}"; printf "\\r\\n${EXIT_MARK.toString()}\\r\\n" >/dev/ttyS1' </dev/null >/dev/null 2>&1`;
}

/**
 * Start a shell in the guest and pipe `io` to it until the shell exits, the user detaches (Ctrl-])
 * or the input ends (then the shell gets an end-of-file). A terminal input is put in raw mode, so
 * keys (Ctrl-C included) go to the guest's terminal.
 */
export async function openGuestShell(guest: Pick<Guest, 'run'>, socketPath: string, io: GuestShellIo = {}): Promise<void> {
  const input = io.input ?? process.stdin;
  const output = io.output ?? process.stdout;
  const socket: Socket = await new Promise((resolve, reject) => {
    const s = connect(socketPath, () => resolve(s));
    s.once('error', (e) => reject(new Error(`cannot connect to the guest shell port ${socketPath}: ${e.message}`)));
  });
  const finished = new Promise<void>((resolve) => {
    let held = Buffer.alloc(0);
    let seen = '';
    let ready = false;
    let inputEnded = false;
    const queued: Buffer[] = [];
    const eof = Buffer.from([0x04]); // end of input: Ctrl-D ends the shell at its prompt
    const end = (): void => {
      input.off('data', onInput);
      input.off('end', onEnd);
      if (input.isTTY) input.setRawMode?.(false);
      input.pause();
      socket.destroy();
      resolve();
    };
    // Forward guest output, holding back a tail that could be the start of the exit mark.
    socket.on('data', (chunk: Buffer) => {
      if (!ready) {
        seen = (seen + chunk.toString('latin1')).slice(-256);
        if (seen.includes(READY_MARK)) {
          ready = true;
          for (const q of queued.splice(0)) socket.write(q);
          if (inputEnded) socket.write(eof);
        }
      }
      const text = Buffer.concat([held, chunk]);
      const at = text.indexOf(EXIT_MARK);
      if (at >= 0) {
        output.write(text.subarray(0, at));
        end();
        return;
      }
      const keep = Math.min(text.length, EXIT_MARK.length - 1);
      output.write(text.subarray(0, text.length - keep));
      held = text.subarray(text.length - keep);
    });
    socket.on('close', end);
    socket.on('error', end);
    const onInput = (data: Buffer | string): void => {
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      if (input.isTTY && bytes.includes(DETACH)) {
        output.write('\r\n[p2pkit] detached from the guest shell\r\n');
        end();
        return;
      }
      if (ready) socket.write(bytes);
      else queued.push(bytes);
    };
    const onEnd = (): void => {
      inputEnded = true;
      if (ready) socket.write(eof);
    };
    input.on('data', onInput);
    input.on('end', onEnd);
  });
  await guest.run(startScript(output.rows ?? 24, output.columns ?? 80), { timeoutMs: 20_000, check: true });
  if (input.isTTY) input.setRawMode?.(true);
  input.resume();
  await finished;
}
