/**
 * The p2pkit demo as a script: two NVMe controllers written in TypeScript below one PCIe switch in
 * a QEMU guest with a stock Linux kernel; the guest copies 64 MiB from B to B through A's CMB
 * (peer-to-peer) and through host memory, and p2pkit's fabric model shows where the bytes went.
 * The logic lives in @p2pkit/cli (`p2pkit demo`, `npm run demo`); this script runs it with its
 * defaults and leaves the report in ./demo-output/report.html.
 */
import { runDemo } from '@p2pkit/cli';

const figures = await runDemo({ outDir: 'demo-output' });
console.log(
  `upstream port share: p2p ${(figures.p2p.upstreamShare * 100).toFixed(3)} %, host ${(figures.host.upstreamShare * 100).toFixed(0)} %`,
);
process.exit(figures.p2p.verified && figures.host.verified ? 0 : 1);
