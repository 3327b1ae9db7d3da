import { commandName } from './protocol.ts';

/** An error reply from the peer (or one we send): carries the positive errno. */
export class VfioUserError extends Error {
  constructor(
    readonly command: number,
    readonly errno: number,
    message?: string,
  ) {
    super(message ?? `${commandName(command)} failed with errno ${errno}`);
    this.name = 'VfioUserError';
  }
}

/** A message that does not follow the protocol's layout rules. */
export class MalformedMessageError extends Error {
  constructor(
    message: string,
    readonly errno: number = 22,
  ) {
    super(message);
    this.name = 'MalformedMessageError';
  }
}
