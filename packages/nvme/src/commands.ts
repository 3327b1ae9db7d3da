import { registerDeviceSelfTest } from './admin/device-self-test.ts';
import { registerDoorbellBuffer } from './admin/doorbell-buffer.ts';
import { registerEventCommands } from './admin/events.ts';
import { registerFeatures } from './admin/features.ts';
import { registerFormat } from './admin/format.ts';
import { registerIdentify } from './admin/identify.ts';
import { registerLbaStatus } from './admin/lba-status.ts';
import { registerLogPages } from './admin/log-pages.ts';
import { registerNamespaceManagement } from './admin/namespace-management.ts';
import { registerQueueCommands } from './admin/queues.ts';
import type { ControllerCore } from './core.ts';
import { registerCopy } from './io/copy.ts';
import { registerDatasetManagement } from './io/dataset-management.ts';
import { registerFlush } from './io/flush.ts';
import { registerMetadataIo } from './io/metadata-io.ts';
import { registerReadWrite } from './io/read-write.ts';
import { registerWriteUncorrectable } from './io/write-uncorrectable.ts';
import { registerWriteZeroes } from './io/write-zeroes.ts';
import { registerZonedCommands } from './zns/register.ts';

/** Fills the admin and I/O registries with the built-in command set. */
export function registerBuiltinCommands(core: ControllerCore): void {
  registerQueueCommands(core);
  registerIdentify(core);
  registerFeatures(core);
  registerLogPages(core);
  registerEventCommands(core);
  registerDoorbellBuffer(core);
  registerFormat(core);
  registerNamespaceManagement(core);
  registerReadWrite(core);
  registerFlush(core);
  registerWriteZeroes(core);
  registerDatasetManagement(core);
  registerCopy(core);
  registerWriteUncorrectable(core);
  registerLbaStatus(core);
  registerDeviceSelfTest(core);
  // Last: routes Read/Write/Compare/Verify/Write Zeroes of namespaces with metadata around the plain handlers.
  registerMetadataIo(core);
  registerZonedCommands(core); // wraps the NVM I/O commands: keep it last
}
