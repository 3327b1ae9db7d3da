/**
 * Raised inside a handler to end a command with `status`. The executor turns it into a completion,
 * never letting it cross the queue boundary; `guestMistake` messages go to the host's guestError log.
 */
export class CommandError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly guestMistake = true,
    readonly detail?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'CommandError';
  }
}
