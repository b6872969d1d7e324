/** How old a managed access key can get while still active, from the configuration, against the age that AWS Config's access-keys-rotated, Security Hub's IAM.3 and CIS allow (maxKeyAgeDays). */

/** Seconds in an hour and in a day. */
const HOUR = 3_600;
const DAY = 86_400;

/**
 * How late IAM's credential report may show a key's state: it is regenerated at most every four hours (IAM user guide,
 * "Getting credential reports for your AWS account"), so a key deactivated now may still read as active for four hours
 * to a check that reads the report.
 */
export const CREDENTIAL_REPORT_DELAY_SECS = 4 * HOUR;

/**
 * How late a scheduled rotation may come after `rotationDays`: a `rate(N days)` schedule rotates at any time within
 * the UTC day that it is due, the window closing at the end of that day (Secrets Manager API reference,
 * RotationRulesType: Duration), so two rotations may be up to N days and one day apart.
 */
export const ROTATION_WINDOW_SECS = DAY;

/** The longest gap between two sweeps of a cron expression that this check does not read in detail. */
export const UNREAD_CRON_PERIOD_SECS = 31 * DAY;

const UNIT_SECONDS: Record<string, number> = { minute: 60, minutes: 60, hour: HOUR, hours: HOUR, day: DAY, days: DAY };

/**
 * The longest time between two sweeps of an EventBridge Scheduler expression: a `rate(...)`'s period; for a `cron(...)`
 * that runs every day (day-of-month and day-of-week `*` or `?`, every month and year), an hour when its hours field is
 * `*` and a day otherwise; for any other cron, 31 days (a bound, not a reading of the expression).
 */
export function sweepPeriodSeconds(expression: string): number {
  const rate = /^rate\((\d+) (minutes?|hours?|days?)\)$/.exec(expression);
  if (rate) return Number(rate[1]) * UNIT_SECONDS[rate[2]];
  const cron = /^cron\((.*)\)$/.exec(expression);
  if (cron) {
    const [, hours, dayOfMonth, month, dayOfWeek, year] = cron[1].trim().split(/\s+/);
    const any = (field: string | undefined) => field === '*' || field === '?';
    if (any(dayOfMonth) && any(dayOfWeek) && month === '*' && (year === undefined || year === '*')) {
      return hours === '*' ? HOUR : DAY;
    }
  }
  return UNREAD_CRON_PERIOD_SECS;
}

/** The parts of the configuration that bound how long a key stays active. */
export interface KeyAgeInputs {
  readonly rotationDays: number;
  readonly oldKeyPolicy: string;
  /** With `grace`: ROTATOR_GRACE_MAX, in seconds. */
  readonly graceMaxSecs: number;
  readonly sweepSchedule: string;
}

/** Each term of the longest time a key stays active, in seconds, named as the refusal names them. */
export function maxActiveKeyAge(inputs: KeyAgeInputs): { total: number; terms: [string, number][] } {
  // Under keep the previous key stays active until the rotation after next needs room: two intervals.
  const intervals = inputs.oldKeyPolicy === 'keep' ? 2 : 1;
  const times = intervals === 2 ? '2 × ' : '';
  const terms: [string, number][] = [
    [`${times}rotationDays (${inputs.rotationDays} d)`, intervals * inputs.rotationDays * DAY],
    [`${times}the rotation window (1 d)`, intervals * ROTATION_WINDOW_SECS],
  ];
  if (inputs.oldKeyPolicy === 'grace') {
    terms.push([`graceMax (${formatDuration(inputs.graceMaxSecs)})`, inputs.graceMaxSecs]);
    terms.push([`the sweep's period (${formatDuration(sweepPeriodSeconds(inputs.sweepSchedule))}, sweepSchedule)`, sweepPeriodSeconds(inputs.sweepSchedule)]);
  }
  terms.push(["IAM's credential report delay (4 h)", CREDENTIAL_REPORT_DELAY_SECS]);
  return { total: terms.reduce((sum, [, seconds]) => sum + seconds, 0), terms };
}

/**
 * The largest rotationDays whose keys stay within maxKeyAgeDays, the other inputs given; 0 when none does.
 */
export function largestRotationDays(maxKeyAgeDays: number, inputs: Omit<KeyAgeInputs, 'rotationDays'>): number {
  const rest = maxActiveKeyAge({ ...inputs, rotationDays: 0 }).total;
  const intervals = inputs.oldKeyPolicy === 'keep' ? 2 : 1;
  return Math.max(0, Math.floor((maxKeyAgeDays * DAY - rest) / (intervals * DAY)));
}

/** A duration in seconds as days, hours and minutes: "7 d", "1 h", "82 d 19 h". */
export function formatDuration(seconds: number): string {
  const parts: string[] = [];
  const days = Math.floor(seconds / DAY);
  const hours = Math.floor((seconds % DAY) / HOUR);
  const minutes = Math.floor((seconds % HOUR) / 60);
  if (days) parts.push(`${days} d`);
  if (hours) parts.push(`${hours} h`);
  if (minutes || parts.length === 0) parts.push(`${minutes} min`);
  return parts.join(' ');
}
