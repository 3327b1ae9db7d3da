/**
 * Guest scenarios of p2pkit's devices and of the testbed itself (test/e2e/scenarios/): the stock
 * nvme driver and nvme-cli on p2pkit NVMe, INTx, the hello endpoint, deferred binding, job failures,
 * boot failures. One guest boot per scenario, through the same runner as `p2pkit run`.
 */
import { join } from 'node:path';
import { scenarioSuite } from './scenario-suite.ts';

await scenarioSuite(join(import.meta.dirname, 'scenarios'));
