import type { ControllerCore } from '../core.ts';
import { registerZoneAppend } from './zone-append.ts';
import { registerZoneManagement } from './zone-management.ts';
import { wrapZonedIo } from './zoned-io.ts';

/**
 * The Zoned Namespace command set (CSI 02h), when a configured namespace is zoned: Zone Management
 * Send / Receive, Zone Append, and the write-pointer rules on the NVM commands. Runs after the NVM
 * commands are registered.
 */
export function registerZonedCommands(core: ControllerCore): void {
  if (!core.options.zoned) return;
  registerZoneManagement(core);
  registerZoneAppend(core);
  wrapZonedIo(core);
}
