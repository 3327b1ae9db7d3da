/** Guest helper plumbing shared by the e2e scenarios (re-exported from @p2pkit/testbed). */
export { buildGuestTool, parseKeyValues as kv } from '@p2pkit/testbed';
