/**
 * Completion status field values (NVMe 2.0 base §4.2.3, NVM command set §4.1.x).
 * Encoded as `(SCT << 8) | SC`; {@link DNR} is the Do Not Retry bit of the 15-bit status field.
 */
export const Status = {
  Success: 0x000,
  // Generic command status (SCT 0), §4.2.3.1
  InvalidOpcode: 0x001,
  InvalidField: 0x002,
  CommandIdConflict: 0x003,
  DataTransferError: 0x004,
  InternalError: 0x006,
  AbortRequested: 0x007,
  AbortedSqDeletion: 0x008,
  InvalidNamespaceOrFormat: 0x00b,
  CommandSequenceError: 0x00c,
  InvalidSglSegmentDescriptor: 0x00d,
  InvalidSglDescriptorCount: 0x00e,
  DataSglLengthInvalid: 0x00f,
  MetadataSglLengthInvalid: 0x010,
  SglDescriptorTypeInvalid: 0x011,
  InvalidCmbUse: 0x012,
  PrpOffsetInvalid: 0x013,
  SglOffsetInvalid: 0x016,
  // NVM command set generic status
  LbaOutOfRange: 0x080,
  CapacityExceeded: 0x081,
  NamespaceNotReady: 0x082,
  // Command specific status (SCT 1), §4.2.3.2
  CompletionQueueInvalid: 0x100,
  InvalidQueueIdentifier: 0x101,
  InvalidQueueSize: 0x102,
  AbortCommandLimitExceeded: 0x103,
  AerLimitExceeded: 0x105,
  InvalidInterruptVector: 0x108,
  InvalidLogPage: 0x109,
  InvalidFormat: 0x10a,
  InvalidQueueDeletion: 0x10c,
  FeatureNotSaveable: 0x10d,
  FeatureNotChangeable: 0x10e,
  FeatureNotNamespaceSpecific: 0x10f,
  NamespaceInsufficientCapacity: 0x115,
  NamespaceIdUnavailable: 0x116,
  NamespaceAlreadyAttached: 0x118,
  NamespaceIsPrivate: 0x119,
  NamespaceNotAttached: 0x11a,
  ThinProvisioningNotSupported: 0x11b,
  ControllerListInvalid: 0x11c,
  DeviceSelfTestInProgress: 0x11d,
  // NVM command set specific (SCT 1)
  InvalidProtectionInformation: 0x181,
  AttemptedWriteToReadOnlyRange: 0x182,
  CommandSizeLimitExceeded: 0x183,
  // Zoned Namespace command set specific (SCT 1), ZNS §4.1.1
  ZoneBoundaryError: 0x1b8,
  ZoneIsFull: 0x1b9,
  ZoneIsReadOnly: 0x1ba,
  ZoneIsOffline: 0x1bb,
  ZoneInvalidWrite: 0x1bc,
  TooManyActiveZones: 0x1bd,
  TooManyOpenZones: 0x1be,
  InvalidZoneStateTransition: 0x1bf,
  // Media and data integrity errors (SCT 2), NVM §4.1.2.3
  WriteFault: 0x280,
  UnrecoveredReadError: 0x281,
  EndToEndGuardCheckError: 0x282,
  EndToEndApplicationTagCheckError: 0x283,
  EndToEndReferenceTagCheckError: 0x284,
  CompareFailure: 0x285,
  AccessDenied: 0x286,
  // Path related status (SCT 3), NVMe 2.0 base §4.2.3.4
  InternalPathError: 0x300,
  AsymmetricAccessPersistentLoss: 0x301,
  AsymmetricAccessInaccessible: 0x302,
  AsymmetricAccessTransition: 0x303,
} as const;

/** Do Not Retry (status field bit 14, CQE DW3 bit 31). */
export const DNR = 0x4000;

/** Statuses a host may reasonably retry; every other error is posted with DNR set. */
const RETRYABLE = new Set<number>([Status.DataTransferError, Status.InternalError, Status.NamespaceNotReady, Status.AbortRequested]);

/** Status Code Type 3h: the path failed, not the command; a host retries it through another controller. */
const SCT_PATH = 0x3;

/** Adds DNR to non-retryable errors unless the status already carries an explicit DNR decision. */
export function withRetryPolicy(status: number): number {
  if (status === Status.Success || (status & DNR) !== 0) return status;
  return RETRYABLE.has(status & 0x7ff) || ((status >>> 8) & 7) === SCT_PATH ? status : status | DNR;
}

export function statusName(status: number): string {
  const code = status & 0x7ff;
  for (const [name, value] of Object.entries(Status)) if (value === code) return name;
  return `0x${code.toString(16)}`;
}
