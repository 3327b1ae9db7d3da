/**
 * Makes a namespace zoned (Zoned Namespace Command Set, CSI 02h): every zone is Sequential Write
 * Required, written only at its write pointer (Write, Write Zeroes, Copy) or appended to (Zone
 * Append), and managed with Zone Management Send / Receive.
 */
export interface ZonedNamespaceOptions {
  /**
   * Zone size (ZSZE) in bytes: a power of two ≥ 4 KiB, so that it is a power of two of logical
   * blocks in every LBA format (Linux requires that). The namespace size must be a multiple of it.
   * Default 64 MiB.
   */
  zoneSizeBytes?: number;
  /** Writable bytes of each zone (ZCAP): a multiple of 4 KiB, at most the zone size. Default: the zone size. */
  zoneCapacityBytes?: number;
  /** Zones that may be open or closed at once (MAR + 1); default unlimited. */
  maxActiveZones?: number;
  /** Zones that may be open at once (MOR + 1), at most `maxActiveZones`; default unlimited. */
  maxOpenZones?: number;
  /**
   * OZCS.RAZB: reads may cross zone boundaries. When false, such a read fails with Zone Boundary
   * Error. Default true.
   */
  readAcrossZoneBoundaries?: boolean;
}

/** {@link ZonedNamespaceOptions} with defaults applied; `undefined` limits mean unlimited. */
export interface ZoneGeometry {
  zoneSizeBytes: number;
  zoneCapacityBytes: number;
  maxActiveZones: number | undefined;
  maxOpenZones: number | undefined;
  readAcrossZoneBoundaries: boolean;
}

const DEFAULT_ZONE_SIZE = 64 << 20;

/** Applies defaults and checks the geometry against a namespace of `sizeBytes`. */
export function resolveZoneGeometry(o: ZonedNamespaceOptions, sizeBytes: number, where: string): ZoneGeometry {
  const zoneSizeBytes = o.zoneSizeBytes ?? DEFAULT_ZONE_SIZE;
  const zoneCapacityBytes = o.zoneCapacityBytes ?? zoneSizeBytes;
  const fail = (message: string): never => {
    throw new RangeError(`${where}: zoned: ${message}`);
  };
  if (!Number.isSafeInteger(zoneSizeBytes) || zoneSizeBytes < 4096 || (BigInt(zoneSizeBytes) & BigInt(zoneSizeBytes - 1)) !== 0n)
    fail(`zoneSizeBytes ${zoneSizeBytes} is not a power of two ≥ 4096`);
  if (zoneCapacityBytes <= 0 || zoneCapacityBytes % 4096 !== 0 || zoneCapacityBytes > zoneSizeBytes)
    fail(`zoneCapacityBytes ${zoneCapacityBytes} must be a positive multiple of 4096 ≤ zoneSizeBytes`);
  if (sizeBytes % zoneSizeBytes !== 0) fail(`namespace size ${sizeBytes} is not a multiple of zoneSizeBytes ${zoneSizeBytes}`);
  const zones = sizeBytes / zoneSizeBytes;
  const limit = (name: string, v: number | undefined) => {
    if (v !== undefined && (!Number.isInteger(v) || v < 1 || v > zones)) fail(`${name} ${v} must be 1..${zones} (the zone count)`);
  };
  limit('maxActiveZones', o.maxActiveZones);
  limit('maxOpenZones', o.maxOpenZones);
  if (o.maxOpenZones !== undefined && o.maxActiveZones !== undefined && o.maxOpenZones > o.maxActiveZones)
    fail(`maxOpenZones ${o.maxOpenZones} > maxActiveZones ${o.maxActiveZones}`);
  return {
    zoneSizeBytes,
    zoneCapacityBytes,
    maxActiveZones: o.maxActiveZones,
    maxOpenZones: o.maxOpenZones,
    readAcrossZoneBoundaries: o.readAcrossZoneBoundaries ?? true,
  };
}
