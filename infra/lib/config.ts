/** The deployment configuration: its typed shape, its defaults and the validator that checks a parsed rotator.config.json. */

/** What finishSecret does with the previous access key (ROTATOR_OLD_KEY). */
export type OldKeyPolicy = 'delete' | 'deactivate' | 'keep';

/** The processor architecture that the Lambda artifact was built for. */
export type ArchitectureName = 'arm64' | 'x86_64';

/** One IAM user whose access key the rotator manages. */
export interface ManagedUser {
  /** The IAM user name; the user must live under the managed user path. */
  readonly name: string;
  /** Who receives the success email for this user's secret (the secret's NotifyEmail tag). */
  readonly notifyEmails?: readonly string[];
}

/** The validated configuration, with every default filled in. */
export interface RotatorConfig {
  readonly users: readonly ManagedUser[];
  readonly senderEmail?: string;
  readonly createSenderIdentity: boolean;
  readonly defaultNotifyEmails: readonly string[];
  readonly alertEmails: readonly string[];
  readonly oldKeyPolicy: OldKeyPolicy;
  readonly rotationDays: number;
  readonly testTimeoutSecs: number;
  readonly managedUserPath: string;
  readonly architecture: ArchitectureName;
  readonly artifactPath: string;
  readonly rotateImmediately: boolean;
  readonly logRetentionDays: number;
  readonly reservedConcurrency?: number;
}

/** The defaults of the optional fields. */
export const DEFAULTS = {
  createSenderIdentity: true,
  oldKeyPolicy: 'delete' as OldKeyPolicy,
  rotationDays: 90,
  testTimeoutSecs: 60,
  managedUserPath: '/rotated/',
  architecture: 'arm64' as ArchitectureName,
  artifactPath: '../target/lambda/rotator-lambda/bootstrap.zip',
  rotateImmediately: true,
  logRetentionDays: 365,
} as const;

/**
 * The most users one deployment manages. The role's policy does not grow with them (it names the secret prefix
 * and the user path), and their secrets spread over nested stacks (see shards.ts), which hold 10,000 users
 * with room to spare; the tests synthesize 5,000.
 */
export const MAX_USERS = 10_000;

/** The longest testSecret budget: it plus a 60-second margin must stay within Lambda's 900-second limit. */
export const MAX_TEST_TIMEOUT_SECS = 840;

/** The retention periods that CloudWatch Logs accepts, in days. */
export const LOG_RETENTION_DAYS: readonly number[] = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

const TOP_LEVEL_FIELDS = new Set([
  'users',
  'senderEmail',
  'createSenderIdentity',
  'defaultNotifyEmails',
  'alertEmails',
  'oldKeyPolicy',
  'rotationDays',
  'testTimeoutSecs',
  'managedUserPath',
  'architecture',
  'artifactPath',
  'rotateImmediately',
  'logRetentionDays',
  'reservedConcurrency',
]);
const USER_FIELDS = new Set(['name', 'notifyEmails']);

/** IAM user names: 1 to 64 of letters, digits and + = . @ _ - (IAM's rule, less the comma that secret names refuse). */
const IAM_USER_NAME = /^[\w+=.@-]{1,64}$/;

/** IAM paths that the rotator accepts: one or more segments of IAM name characters, starting and ending with '/'. */
const MANAGED_PATH = /^\/([\w+=,.@-]+\/)+$/;

/** The longest NotifyEmail tag value that Secrets Manager stores. */
const MAX_TAG_VALUE = 255;

/**
 * Checks an email address with the rule that the function itself applies (rotator-core's parse_addresses),
 * and refuses commas because the function reads address lists as comma-separated.
 */
export function isEmailAddress(value: string): boolean {
  if (value.length > 254 || /[\s,\p{Cc}]/u.test(value)) return false;
  const at = value.indexOf('@');
  if (at <= 0) return false;
  const domain = value.slice(at + 1);
  return domain.includes('.') && !domain.includes('@') && !domain.startsWith('.') && !domain.endsWith('.');
}

/** The error thrown when a configuration file is invalid; its message lists every problem, one a line. */
export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    super(problems.map((problem) => `${source}: ${problem}`).join('\n'));
    this.name = 'ConfigError';
  }
}

/** Collects the problems of one configuration, each prefixed by the path of its field. */
class Checker {
  readonly problems: string[] = [];

  fail(field: string, message: string): undefined {
    this.problems.push(`${field} ${message}`);
    return undefined;
  }

  string(field: string, value: unknown): string | undefined {
    if (typeof value !== 'string' || value.trim() === '') return this.fail(field, 'must be a non-empty string');
    return value;
  }

  email(field: string, value: unknown): string | undefined {
    const text = this.string(field, value);
    if (text === undefined) return undefined;
    if (!isEmailAddress(text)) return this.fail(field, `must be an email address, got ${JSON.stringify(text)}`);
    return text;
  }

  emails(field: string, value: unknown): string[] | undefined {
    if (!Array.isArray(value)) return this.fail(field, 'must be a list of email addresses');
    const out: string[] = [];
    value.forEach((item, i) => {
      const email = this.email(`${field}[${i}]`, item);
      if (email !== undefined) out.push(email);
    });
    const seen = new Set<string>();
    for (const email of out) {
      const key = email.toLowerCase();
      if (seen.has(key)) this.fail(field, `lists ${email} twice`);
      seen.add(key);
    }
    return out;
  }

  integer(field: string, value: unknown, min: number, max: number): number | undefined {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      return this.fail(field, `must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
    }
    return value;
  }

  boolean(field: string, value: unknown): boolean | undefined {
    if (typeof value !== 'boolean') return this.fail(field, `must be true or false, got ${JSON.stringify(value)}`);
    return value;
  }

  oneOf<T extends string>(field: string, value: unknown, allowed: readonly T[]): T | undefined {
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      return this.fail(field, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
    }
    return value as T;
  }

  unknownFields(prefix: string, object: Record<string, unknown>, known: Set<string>): void {
    for (const key of Object.keys(object)) {
      // Keys that start with '$' (such as "$comment") are notes for people and are ignored.
      if (!known.has(key) && !key.startsWith('$')) this.fail(`${prefix}${key}`, 'is not a known field');
    }
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates a parsed configuration file and fills in the defaults.
 * `source` names the file in error messages, e.g. "rotator.config.json: users[1].name must be ...".
 */
export function parseConfig(raw: unknown, source: string): RotatorConfig {
  const check = new Checker();
  if (!isObject(raw)) throw new ConfigError(source, ['the file must hold one JSON object']);
  check.unknownFields('', raw, TOP_LEVEL_FIELDS);

  const users: ManagedUser[] = [];
  if (!Array.isArray(raw.users) || raw.users.length === 0) {
    check.fail('users', 'must be a non-empty list of {"name": ..., "notifyEmails": [...]} entries');
  } else if (raw.users.length > MAX_USERS) {
    check.fail('users', `lists ${raw.users.length} users; one deployment manages at most ${MAX_USERS}`);
  } else {
    const seen = new Map<string, number>();
    raw.users.forEach((entry: unknown, i: number) => {
      const field = `users[${i}]`;
      if (!isObject(entry)) {
        check.fail(field, 'must be an object such as {"name": "alice"}');
        return;
      }
      check.unknownFields(`${field}.`, entry, USER_FIELDS);
      let name = check.string(`${field}.name`, entry.name);
      if (name !== undefined && !IAM_USER_NAME.test(name)) {
        name = check.fail(
          `${field}.name`,
          `must be an IAM user name of 1 to 64 letters, digits or + = . @ _ - (a comma, which IAM allows, cannot appear in the secret's name), got ${JSON.stringify(name)}`,
        );
      }
      if (name !== undefined) {
        // IAM user names are unique regardless of case, so "Alice" and "alice" are the same user.
        const earlier = seen.get(name.toLowerCase());
        if (earlier !== undefined) check.fail(`${field}.name`, `repeats users[${earlier}].name (${name})`);
        else seen.set(name.toLowerCase(), i);
      }
      let notifyEmails: string[] | undefined;
      if (entry.notifyEmails !== undefined) {
        notifyEmails = check.emails(`${field}.notifyEmails`, entry.notifyEmails);
        if (notifyEmails !== undefined && notifyEmails.length === 0) {
          notifyEmails = check.fail(`${field}.notifyEmails`, 'must list at least one address when present');
        }
        if (notifyEmails !== undefined && notifyEmails.join(',').length > MAX_TAG_VALUE) {
          notifyEmails = check.fail(
            `${field}.notifyEmails`,
            `must fit in a ${MAX_TAG_VALUE}-character tag when joined with commas`,
          );
        }
      }
      if (name !== undefined) users.push(notifyEmails ? { name, notifyEmails } : { name });
    });
  }

  const senderEmail = raw.senderEmail === undefined ? undefined : check.email('senderEmail', raw.senderEmail);
  const createSenderIdentity =
    raw.createSenderIdentity === undefined
      ? DEFAULTS.createSenderIdentity
      : check.boolean('createSenderIdentity', raw.createSenderIdentity);
  if (raw.createSenderIdentity !== undefined && raw.senderEmail === undefined) {
    check.fail('createSenderIdentity', 'needs senderEmail');
  }
  const defaultNotifyEmails =
    raw.defaultNotifyEmails === undefined ? [] : check.emails('defaultNotifyEmails', raw.defaultNotifyEmails);
  const alertEmails = raw.alertEmails === undefined ? [] : check.emails('alertEmails', raw.alertEmails);
  const oldKeyPolicy =
    raw.oldKeyPolicy === undefined
      ? DEFAULTS.oldKeyPolicy
      : check.oneOf<OldKeyPolicy>('oldKeyPolicy', raw.oldKeyPolicy, ['delete', 'deactivate', 'keep']);
  const rotationDays =
    raw.rotationDays === undefined ? DEFAULTS.rotationDays : check.integer('rotationDays', raw.rotationDays, 1, 1000);
  const testTimeoutSecs =
    raw.testTimeoutSecs === undefined
      ? DEFAULTS.testTimeoutSecs
      : check.integer('testTimeoutSecs', raw.testTimeoutSecs, 1, MAX_TEST_TIMEOUT_SECS);

  let managedUserPath: string | undefined = DEFAULTS.managedUserPath;
  if (raw.managedUserPath !== undefined) {
    managedUserPath = check.string('managedUserPath', raw.managedUserPath);
    if (managedUserPath === '/') {
      managedUserPath = check.fail(
        'managedUserPath',
        'must not be "/": that path holds every user, and the rotator must only manage users set apart for it',
      );
    } else if (managedUserPath !== undefined && (!MANAGED_PATH.test(managedUserPath) || managedUserPath.length > 512)) {
      managedUserPath = check.fail(
        'managedUserPath',
        `must be an IAM path such as "/rotated/" (segments of letters, digits or + = , . @ _ -, each followed by "/"), got ${JSON.stringify(managedUserPath)}`,
      );
    }
  }

  const architecture =
    raw.architecture === undefined
      ? DEFAULTS.architecture
      : check.oneOf<ArchitectureName>('architecture', raw.architecture, ['arm64', 'x86_64']);
  const artifactPath =
    raw.artifactPath === undefined ? DEFAULTS.artifactPath : check.string('artifactPath', raw.artifactPath);
  const rotateImmediately =
    raw.rotateImmediately === undefined
      ? DEFAULTS.rotateImmediately
      : check.boolean('rotateImmediately', raw.rotateImmediately);
  let logRetentionDays: number | undefined = DEFAULTS.logRetentionDays;
  if (raw.logRetentionDays !== undefined) {
    logRetentionDays = check.integer('logRetentionDays', raw.logRetentionDays, 1, 3653);
    if (logRetentionDays !== undefined && !LOG_RETENTION_DAYS.includes(logRetentionDays)) {
      logRetentionDays = check.fail(
        'logRetentionDays',
        `must be a period that CloudWatch Logs offers (${LOG_RETENTION_DAYS.join(', ')}), got ${logRetentionDays}`,
      );
    }
  }
  const reservedConcurrency =
    raw.reservedConcurrency === undefined
      ? undefined
      : check.integer('reservedConcurrency', raw.reservedConcurrency, 1, 1000);

  if (check.problems.length > 0) throw new ConfigError(source, check.problems);
  return {
    users,
    ...(senderEmail !== undefined ? { senderEmail } : {}),
    createSenderIdentity: createSenderIdentity!,
    defaultNotifyEmails: defaultNotifyEmails!,
    alertEmails: alertEmails!,
    oldKeyPolicy: oldKeyPolicy!,
    rotationDays: rotationDays!,
    testTimeoutSecs: testTimeoutSecs!,
    managedUserPath: managedUserPath!,
    architecture: architecture!,
    artifactPath: artifactPath!,
    rotateImmediately: rotateImmediately!,
    logRetentionDays: logRetentionDays!,
    ...(reservedConcurrency !== undefined ? { reservedConcurrency } : {}),
  };
}
