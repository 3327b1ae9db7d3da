import type { Message } from './codec.ts';

/** Why a transport delivered a message without (all of) its body or fds. */
export interface MessageRefusal {
  /** The errno of the error reply. */
  errno: number;
  reason: string;
}

/**
 * A bidirectional, message-framed vfio-user channel. The receiver owns every fd it is handed and
 * must close it; a sender keeps ownership of the fds it sends.
 */
export interface Transport {
  /** Send one whole message (header included) with optional fds. */
  send(message: Uint8Array, fds?: readonly number[]): void;
  /**
   * Start delivering messages. `onClose` fires once, on EOF, error or close(). A message the
   * transport had to cut short (too large, too many fds) arrives with a `refusal`: its payload is
   * empty and the receiver answers it with `refusal.errno`.
   */
  start(onMessage: (message: Message, refusal?: MessageRefusal) => void, onClose: (reason?: Error) => void): void;
  close(): void;
  readonly closed: boolean;
  /**
   * If the peer has already hung up — even though its EOF has not been delivered yet — deliver what
   * it sent before and close. Returns whether the transport is (being) closed.
   */
  settleIfHungUp?(): boolean;
}
