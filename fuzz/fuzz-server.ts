/**
 * The vfio-user fuzzer's server process (socket variant): serves the fuzz target NVMe endpoint on
 * argv[3], prints `ready`, and prints each `device` log line (a server bug) as `device: <line>`.
 * Usage: fuzz-server.ts <directory> <socket path>
 */
import type { Logger } from '@p2pkit/base';
import { VfioUserServer } from '@p2pkit/vfio-user';
import { fuzzTargetNvme } from './vfio-user-fuzzer.ts';

const [directory, path] = process.argv.slice(2) as [string, string];
const quiet = () => {};
const logger: Logger = {
  guest: quiet,
  client: quiet,
  info: quiet,
  device: (m) => process.stdout.write(`device: ${m.replace(/\n/g, ' | ')}\n`),
};
const nvme = await fuzzTargetNvme(directory, logger);
const server = VfioUserServer.listen(path, nvme.endpoint, { logger, dmaTimeoutMs: 500 });
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  server.close();
  void nvme.close().then(() => process.exit(0));
});
