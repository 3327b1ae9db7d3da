/** The interceptors of fault-injection.ts on a NoLoad controller, through @p2pkit/nvme/testing. */
import { IoOpcode, Status } from '@p2pkit/nvme';
import { type NvmeHarness, prpsFor, startNvmeHarness } from '@p2pkit/nvme/testing';
import { afterEach, expect, it } from 'vitest';
import { delayIo, failEveryNth, type TracedCommand, traceCommands } from './fault-injection.ts';
import { control, installNoload, NoloadOpcode, NoloadStatus, Place } from './noload.ts';

let h: NvmeHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

it('fails every third CRC-32C, traces every command, delays I/O, and is removed again', async () => {
  // #region test
  h = await startNvmeHarness({ cmb: { size: 2 << 20 } });
  installNoload(h.controller);
  const { driver, memory } = h;
  await driver.bringUp();
  const trace: TracedCommand[] = [];
  const stopTrace = traceCommands(h.controller, trace);
  const stopFaults = failEveryNth(h.controller, NoloadOpcode.Crc32cFromHost, 3, NoloadStatus.CorruptInput);
  const buffer = memory.alloc(4096);
  const crc = () =>
    driver.submit(1, {
      opcode: NoloadOpcode.Crc32cFromHost,
      nsid: 1,
      ...prpsFor(memory, buffer, 512),
      cdw12: 512,
      cdw13: control({ source: Place.DataPointer }),
    });

  const statuses = [];
  for (let i = 0; i < 6; i++) statuses.push((await crc()).status & 0x7ff);
  expect(statuses).toEqual([0, 0, NoloadStatus.CorruptInput, 0, 0, NoloadStatus.CorruptInput]);
  expect(trace.map((t) => t.status & 0x7ff)).toEqual(statuses); // the tracer is outermost: it sees injected faults too

  stopFaults();
  const stopDelay = delayIo(h.controller, 50);
  const read = await driver.readWrite(1, { opcode: IoOpcode.Read, nsid: 1, slba: 0n, blocks: 1, buffer, bytes: 512 });
  expect(read.status).toBe(Status.Success);
  expect(trace.at(-1)?.ms).toBeGreaterThanOrEqual(45);
  stopDelay();
  stopTrace();
  expect((await crc()).status).toBe(Status.Success);
  expect(trace).toHaveLength(7); // removed: no more entries
  // #endregion test
});
