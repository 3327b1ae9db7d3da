import type { AsyncEvents } from './events.ts';
import { AsyncEventType, SmartEventInfo } from './events.ts';

/** Warning and critical composite temperature thresholds reported in Identify Controller (Kelvin). */
export const WCTEMP = 343;
export const CCTEMP = 373;

/** SMART / Health Information state and log (Log Page 02h, NVMe 2.0 §5.16.1.3). */
export class Health {
  temperature: number;
  overThreshold = WCTEMP;
  underThreshold = 0;
  /** 512-byte units, reported in thousands (rounded up). */
  sectorsRead = 0n;
  sectorsWritten = 0n;
  hostReads = 0n;
  hostWrites = 0n;
  busyMs = 0;
  powerCycles = 1n;
  unsafeShutdowns = 0n;
  mediaErrors = 0n;
  private readonly bornAt = Date.now();
  private warning = 0;

  constructor(
    temperature: number,
    private readonly events: AsyncEvents,
  ) {
    this.temperature = temperature;
  }

  /** Power On Hours since the controller was created (SMART, Device Self-test log entries). */
  get powerOnHours(): bigint {
    return BigInt(Math.floor((Date.now() - this.bornAt) / 3_600_000));
  }

  get criticalWarning(): number {
    return this.warning;
  }

  /** Re-evaluates the temperature warning (bit 1) and raises a SMART AEN when it turns on. */
  evaluateTemperature(): void {
    const hot = this.temperature > this.overThreshold || (this.underThreshold !== 0 && this.temperature < this.underThreshold);
    const before = this.warning;
    this.warning = hot ? this.warning | 2 : this.warning & ~2;
    if (hot && (before & 2) === 0) {
      this.events.raise({ type: AsyncEventType.Smart, info: SmartEventInfo.TemperatureThreshold, logPage: 0x02 });
    }
  }

  page(errorCount: bigint): Uint8Array {
    const out = new Uint8Array(512);
    const v = new DataView(out.buffer);
    const u128 = (off: number, n: bigint) => {
      v.setBigUint64(off, n & 0xffffffffffffffffn, true);
      v.setBigUint64(off + 8, n >> 64n, true);
    };
    v.setUint8(0, this.warning);
    v.setUint16(1, this.temperature, true);
    v.setUint8(3, 100); // available spare %
    v.setUint8(4, 10); // available spare threshold %
    v.setUint8(5, 0); // percentage used
    u128(32, (this.sectorsRead + 999n) / 1000n);
    u128(48, (this.sectorsWritten + 999n) / 1000n);
    u128(64, this.hostReads);
    u128(80, this.hostWrites);
    u128(96, BigInt(Math.floor(this.busyMs / 60000)));
    u128(112, this.powerCycles);
    u128(128, this.powerOnHours);
    u128(144, this.unsafeShutdowns);
    u128(160, this.mediaErrors);
    u128(176, errorCount);
    v.setUint16(200, this.temperature, true); // temperature sensor 1
    return out;
  }
}
