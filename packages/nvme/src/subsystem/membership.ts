import type { Namespace } from '../namespace.ts';

/** ANA reporting of an NVM subsystem (NVMe 2.0 base §8.1.1): what Identify Controller advertises. */
export interface AnaReporting {
  /** ANA groups, IDs 1..groups (ANAGRPMAX = NANAGRPID). */
  readonly groups: number;
  /** ANATT: how long a group may stay in the change state, seconds. */
  readonly transitionTimeSeconds: number;
}

/**
 * One controller's place in a multi-controller NVM subsystem. Made by `NvmeSubsystem.controller()`;
 * the controller reads it for Identify and its namespace set, the subsystem keeps the shared state.
 */
export interface SubsystemMembership {
  /** The subsystem's namespaces, opened once and shared by its controllers: this controller never closes them. */
  readonly namespaces: readonly Namespace[];
  /** NSIDs attached to this controller at start. */
  readonly attached: readonly number[];
  /** ANA reporting; undefined when the subsystem reports none. */
  readonly ana: AnaReporting | undefined;
  /** CNTLIDs of every controller of the subsystem, ascending. */
  controllerIds(): number[];
}
