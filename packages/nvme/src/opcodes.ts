/** Admin command opcodes (NVMe 2.0 base §5, Figure 28). */
export const AdminOpcode = {
  DeleteIoSq: 0x00,
  CreateIoSq: 0x01,
  GetLogPage: 0x02,
  DeleteIoCq: 0x04,
  CreateIoCq: 0x05,
  Identify: 0x06,
  Abort: 0x08,
  SetFeatures: 0x09,
  GetFeatures: 0x0a,
  AsyncEventRequest: 0x0c,
  NamespaceManagement: 0x0d,
  DeviceSelfTest: 0x14,
  NamespaceAttachment: 0x15,
  KeepAlive: 0x18,
  DoorbellBufferConfig: 0x7c,
  FormatNvm: 0x80,
  GetLbaStatus: 0x86,
} as const;

/** NVM command set I/O opcodes (NVM command set spec 1.0 §3). */
export const IoOpcode = {
  Flush: 0x00,
  Write: 0x01,
  Read: 0x02,
  WriteUncorrectable: 0x04,
  Compare: 0x05,
  WriteZeroes: 0x08,
  DatasetManagement: 0x09,
  Verify: 0x0c,
  Copy: 0x19,
  /** Zoned Namespace command set (ZNS §3.4). */
  ZoneManagementSend: 0x79,
  ZoneManagementReceive: 0x7a,
  ZoneAppend: 0x7d,
} as const;

/** Commands Supported and Effects log entry bits (NVMe 2.0 §5.16.1.6). */
export const Effects = {
  None: 0,
  /** Command supported. Added automatically by the registry. */
  Supported: 1 << 0,
  /** Logical block content change. */
  LbaContentChange: 1 << 1,
  /** Namespace capability change. */
  NamespaceCapabilityChange: 1 << 2,
  /** Namespace inventory change. */
  NamespaceInventoryChange: 1 << 3,
  /** Controller capability change. */
  ControllerCapabilityChange: 1 << 4,
  /** CSE = 001b: no other command to the same namespace while this one runs. */
  ExclusiveNamespace: 1 << 16,
  /** CSE = 010b: no other command outstanding on the controller. */
  ExclusiveController: 2 << 16,
} as const;
