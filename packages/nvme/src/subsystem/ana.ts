/**
 * Asymmetric Namespace Access (NVMe 2.0 base §8.1.1): each controller of an NVM subsystem reports,
 * per ANA group, how well it reaches that group's namespaces; the host picks its paths from that.
 */
import { Status } from '../status.ts';

/** An ANA state, as a controller reports it for one ANA group. */
export type AnaState = 'optimized' | 'non-optimized' | 'inaccessible' | 'persistent-loss' | 'change';

/** ANA State field values of an ANA Group Descriptor (§5.16.1.12, Figure 231). */
const STATE_CODE: Record<AnaState, number> = {
  optimized: 0x01,
  'non-optimized': 0x02,
  inaccessible: 0x03,
  'persistent-loss': 0x04,
  change: 0x0f,
};

/** The status of a command on a namespace the path cannot reach (§8.1.1.4–§8.1.1.6); undefined: the command runs. */
export function anaStatus(state: AnaState): number | undefined {
  switch (state) {
    case 'inaccessible':
      return Status.AsymmetricAccessInaccessible;
    case 'persistent-loss':
      return Status.AsymmetricAccessPersistentLoss;
    case 'change':
      return Status.AsymmetricAccessTransition;
    default:
      return undefined;
  }
}

export function isAnaState(value: unknown): value is AnaState {
  return typeof value === 'string' && Object.hasOwn(STATE_CODE, value);
}

/** One ANA group as one controller's log page describes it. */
export interface AnaGroupView {
  id: number;
  state: AnaState;
  /** Incremented on every change of this group's state on this controller. */
  changeCount: bigint;
  /** NSIDs of the group attached to this controller, ascending. */
  nsids: number[];
}

const HEADER_BYTES = 16;
const DESCRIPTOR_BYTES = 32;

/**
 * Asymmetric Namespace Access log page, LID 0Ch (§5.16.1.12): header (change count, number of
 * descriptors), then one descriptor per group with its NSIDs; with RGO (Return Groups Only, LSP bit
 * 0) the descriptors carry no NSIDs.
 */
export function anaLogPage(changeCount: bigint, groups: readonly AnaGroupView[], groupsOnly: boolean): Uint8Array {
  const nsidCount = groupsOnly ? 0 : groups.reduce((n, g) => n + g.nsids.length, 0);
  const out = new Uint8Array(HEADER_BYTES + groups.length * DESCRIPTOR_BYTES + nsidCount * 4);
  const v = new DataView(out.buffer);
  v.setBigUint64(0, changeCount, true);
  v.setUint16(8, groups.length, true);
  let at = HEADER_BYTES;
  for (const g of groups) {
    const nsids = groupsOnly ? [] : g.nsids;
    v.setUint32(at, g.id, true);
    v.setUint32(at + 4, nsids.length, true);
    v.setBigUint64(at + 8, g.changeCount, true);
    v.setUint8(at + 16, STATE_CODE[g.state]);
    at += DESCRIPTOR_BYTES;
    for (const nsid of nsids) {
      v.setUint32(at, nsid, true);
      at += 4;
    }
  }
  return out;
}
