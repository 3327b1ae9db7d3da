/**
 * Guest scenarios of the NVMe features kernel developers test today (test/e2e/nvme-next/): one
 * guest boot per scenario, through the same runner as `p2pkit run`.
 */
import { join } from 'node:path';
import { scenarioSuite } from './scenario-suite.ts';

await scenarioSuite(join(import.meta.dirname, 'nvme-next'));
