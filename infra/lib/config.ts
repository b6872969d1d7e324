/** The deployment configuration: its typed shape, its defaults and the validator that checks a parsed rotator.config.json. */
import { formatDuration, largestRotationDays, maxActiveKeyAge } from './key-age';

/** What finishSecret does with the previous access key (ROTATOR_OLD_KEY). */
export type OldKeyPolicy = 'delete' | 'deactivate' | 'keep' | 'grace';

/** Every old-key policy, in the order in which error messages list them. */
export const OLD_KEY_POLICIES: readonly OldKeyPolicy[] = ['grace', 'delete', 'deactivate', 'keep'];

/** The processor architecture that the Lambda artifact was built for. */
export type ArchitectureName = 'arm64' | 'x86_64';

/** One IAM user whose access key the rotator manages. */
export interface ManagedUser {
  /** The IAM user name; the user must live under the managed user path. */
  readonly name: string;
  /** Who receives the success email for this user's secret (the secret's NotifyEmail tag). */
  readonly notifyEmails?: readonly string[];
  /**
   * The AWS account (12 digits) of the user, when it is not the deployment's own: the secret is then named
   * `<stack>/<account>/<user>`, holds `AccountId`, and the function reaches the user through the member role.
   */
  readonly account?: string;
  /**
   * An access key that the user already holds and programs use today, which the rotator takes over (contract §10): it
   * becomes `AdoptAccessKeyId` in the secret's first value. It applies when the secret is created only.
   */
  readonly adoptKey?: string;
  /**
   * The IAM principals (role or user ARNs) that may read this user's secret: its resource policy lets them call
   * GetSecretValue and DescribeSecret, and the secrets' key lets them decrypt it through Secrets Manager.
   */
  readonly readers?: readonly string[];
}

/** The organization that the member role is rolled out to by a StackSet. */
export interface OrganizationConfig {
  /** The organization's id, such as "o-a1b2c3d4e5". */
  readonly id: string;
  /** The organizational units (or the root) whose accounts get the member role, such as "ou-ab12-34cd56ef". */
  readonly organizationalUnits: readonly string[];
  /** Whether the central account is the management account (SELF) or a delegated administrator for StackSets. */
  readonly callAs: 'SELF' | 'DELEGATED_ADMIN';
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
  /** The account's Lambda concurrency quota, against which reservedConcurrency is checked. */
  readonly accountConcurrency: number;
  /** The oldest that an active access key may get (AWS Config access-keys-rotated, Security Hub IAM.3, CIS: 90). */
  readonly maxKeyAgeDays: number;
  /** With `grace`: the shortest time the previous key stays active, and how long it must go unused (`ROTATOR_GRACE`). */
  readonly grace: string;
  /** With `grace`: the age of a rotation at which its previous key is deactivated even in use (`ROTATOR_GRACE_MAX`). */
  readonly graceMax: string;
  /** How late IAM may report a key's last use (`ROTATOR_USAGE_LAG`). */
  readonly usageLag: string;
  /** The EventBridge Scheduler expression of the sweep, such as "rate(1 hour)". */
  readonly sweepSchedule: string;
  /** The name of the role that the function assumes in a member account (`ROTATOR_MEMBER_ROLE_NAME`). */
  readonly memberRoleName: string;
  /** The external id passed when assuming it (`ROTATOR_MEMBER_EXTERNAL_ID`). */
  readonly memberExternalId?: string;
  /** The organization whose organizational units get the member role from a StackSet of this stack. */
  readonly organization?: OrganizationConfig;
  /** Whether the secrets are encrypted with a customer-managed KMS key of the deployment (else aws/secretsmanager). */
  readonly customerManagedKey: boolean;
  /** Principals, besides the function's role and CloudFormation's execution role, that may write the secrets' values, stages and policies. */
  readonly secretWriterArns: readonly string[];
  /** The operators who run `rotator`: trusted by the reader role of the central account and of each member account. */
  readonly operatorPrincipalArns: readonly string[];
  /** The name of the read-only role that the operators assume in the central account and in each member account. */
  readonly readerRoleName: string;
  /** Principals, besides the function's role, that the member role trusts, for the CLI's `rotator sweep`. */
  readonly sweepPrincipalArns: readonly string[];
  /** How long a rotation may stand unfinished before the sweep recovers it (`ROTATOR_STUCK_AFTER`; "0s": never). */
  readonly stuckAfter: string;
  /** Principals that may invoke the function, for `rotator recover` (`{"Action": "recover", "SecretId": S}`). */
  readonly recoverPrincipalArns: readonly string[];
  /** Whether the sweep imports Security Hub findings (`ROTATOR_FINDINGS`), with the grant that needs. */
  readonly securityHubFindings: boolean;
}

/** The defaults of the optional fields. */
export const DEFAULTS = {
  createSenderIdentity: true,
  oldKeyPolicy: 'grace' as OldKeyPolicy,
  // The largest interval whose keys stay within maxKeyAgeDays under the other defaults (see key-age.ts): 81 days + the
  // 1-day rotation window + graceMax 7 d + an hourly sweep + the credential report's 4 h = 89 d 5 h, under 90 days.
  rotationDays: 81,
  maxKeyAgeDays: 90,
  // Lambda's default concurrency quota per account and region; new accounts may have less (Lambda developer guide,
  // "Configuring reserved concurrency").
  accountConcurrency: 1_000,
  testTimeoutSecs: 60,
  managedUserPath: '/rotated/',
  architecture: 'arm64' as ArchitectureName,
  artifactPath: '../target/lambda/rotator-lambda/bootstrap.zip',
  // No rotation during the deployment: the first rotations are started afterwards, in bounded batches, with
  // `rotator rotate --all --max-in-flight N --wait` (see the infra README, "First deployment").
  rotateImmediately: false,
  logRetentionDays: 365,
  grace: '24h',
  graceMax: '7d',
  usageLag: '4h',
  sweepSchedule: 'rate(1 hour)',
  memberRoleName: 'IamKeyRotatorMember',
  readerRoleName: 'IamKeyRotatorReader',
  customerManagedKey: true,
  // Contract §11: a rotation unfinished for a day is recovered by the sweep.
  stuckAfter: '24h',
  // Contract §12: the infra turns the findings on unless the configuration says otherwise.
  securityHubFindings: true,
} as const;

/**
 * The most member accounts that the configuration may name without an organization: the function's policy
 * names the member role of each, and IAM's 10,240 characters for a role's inline policies must hold them all.
 */
export const MAX_MEMBER_ACCOUNTS = 50;

/** The most organizational units that one StackSet targets (a limit of this app, well within CloudFormation's). */
export const MAX_ORGANIZATIONAL_UNITS = 20;

/** A duration with its unit, as the function reads ROTATOR_GRACE and its siblings: `90s`, `30m`, `24h`, `7d`. */
const DURATION = /^(\d{1,6})(s|m|h|d)$/;

/** The seconds of one unit of a duration. */
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3_600, d: 86_400 };

/** The seconds of a duration such as `24h`, or undefined when it is not one. */
export function durationSeconds(value: string): number | undefined {
  const match = DURATION.exec(value);
  return match ? Number(match[1]) * UNIT_SECONDS[match[2]] : undefined;
}

/** The sweep schedules that EventBridge Scheduler accepts and this app passes through: rate(...) or cron(...). */
const SCHEDULE_EXPRESSION = /^(rate\((1 (minute|hour|day)|([2-9]|[1-9]\d{1,3}) (minutes|hours|days))\)|cron\([^()]{9,200}\))$/;

/** An AWS account id. */
const ACCOUNT_ID = /^\d{12}$/;

/** IAM role names: 1 to 64 of letters, digits and + = , . @ _ -. */
const IAM_ROLE_NAME = /^[\w+=,.@-]{1,64}$/;

/** External ids that STS accepts: 2 to 1,224 of letters, digits and + = , . @ : / _ -. */
const EXTERNAL_ID = /^[\w+=,.@:/-]{2,1224}$/;

/** An organization id, an organizational unit id, and a root id of AWS Organizations. */
const ORGANIZATION_ID = /^o-[a-z0-9]{10,32}$/;
const ORGANIZATIONAL_UNIT_ID = /^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$/;
const ROOT_ID = /^r-[0-9a-z]{4,32}$/;

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
  'accountConcurrency',
  'maxKeyAgeDays',
  'grace',
  'graceMax',
  'usageLag',
  'sweepSchedule',
  'memberRoleName',
  'memberExternalId',
  'organization',
  'customerManagedKey',
  'secretWriterArns',
  'operatorPrincipalArns',
  'readerRoleName',
  'sweepPrincipalArns',
  'stuckAfter',
  'recoverPrincipalArns',
  'securityHubFindings',
]);
const USER_FIELDS = new Set(['name', 'notifyEmails', 'account', 'adoptKey', 'readers']);

/** An access key id, as the function accepts one: 16 to 128 upper-case letters and digits (AKIA...). */
const ACCESS_KEY_ID = /^[A-Z0-9]{16,128}$/;

/** What Lambda keeps unreserved in every account: a reservation may leave no less (Lambda developer guide). */
export const MIN_UNRESERVED_CONCURRENCY = 100;
const ORGANIZATION_FIELDS = new Set(['id', 'organizationalUnits', 'callAs']);

/**
 * The ARN of an IAM role or user, the principals that a resource policy or a trust policy may name here: any
 * partition, a 12-digit account, a path and a name of IAM's characters, and no wildcard.
 */
const PRINCIPAL_ARN = /^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/([\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/;

/** The most principals of one list (a reader list, the writers, the operators, the sweep's principals). */
export const MAX_PRINCIPALS = 20;

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

  /** A duration with its unit (`90s`, `30m`, `24h`, `7d`); `0` is refused unless `zeroAllowed`. */
  duration(field: string, value: unknown, fallback: string, zeroAllowed = false): string | undefined {
    if (value === undefined) return fallback;
    const seconds = typeof value === 'string' ? durationSeconds(value) : undefined;
    if (seconds === undefined) {
      return this.fail(field, `must be a duration with its unit, such as "90s", "30m", "24h" or "7d", got ${JSON.stringify(value)}`);
    }
    if (seconds === 0 && !zeroAllowed) return this.fail(field, `must be longer than 0, got ${JSON.stringify(value)}`);
    return value as string;
  }

  /** A list of IAM role or user ARNs, without wildcards or repeats; empty when absent. */
  principals(field: string, value: unknown): string[] | undefined {
    if (value === undefined) return [];
    if (!Array.isArray(value)) return this.fail(field, 'must be a list of IAM role or user ARNs, such as ["arn:aws:iam::111122223333:role/reporting"]');
    if (value.length > MAX_PRINCIPALS) return this.fail(field, `lists ${value.length} principals; at most ${MAX_PRINCIPALS}`);
    const out: string[] = [];
    value.forEach((item: unknown, i: number) => {
      const at = `${field}[${i}]`;
      if (typeof item !== 'string' || item.trim() === '') {
        this.fail(at, 'must be a non-empty string');
      } else if (item.includes('*') || item.includes('?')) {
        this.fail(at, `must name one principal, not a wildcard, got ${JSON.stringify(item)}`);
      } else if (!PRINCIPAL_ARN.test(item)) {
        this.fail(at, `must be the ARN of an IAM role or user, such as "arn:aws:iam::111122223333:role/reporting", got ${JSON.stringify(item)}`);
      } else if (out.includes(item)) {
        this.fail(at, `repeats ${item}`);
      } else out.push(item);
    });
    return out.length === value.length ? out : undefined;
  }

  /** An IAM role name, or the fallback when absent. */
  roleName(field: string, value: unknown, fallback: string): string | undefined {
    if (value === undefined) return fallback;
    const name = this.string(field, value);
    if (name !== undefined && !IAM_ROLE_NAME.test(name)) {
      return this.fail(field, `must be an IAM role name of 1 to 64 letters, digits or + = , . @ _ -, got ${JSON.stringify(name)}`);
    }
    return name;
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
      let account: string | undefined;
      if (entry.account !== undefined) {
        if (typeof entry.account !== 'string' || !ACCOUNT_ID.test(entry.account)) {
          check.fail(
            `${field}.account`,
            `must be an AWS account id of 12 digits, as a string (the account of the user ${JSON.stringify(entry.name)}), got ${JSON.stringify(entry.account)}`,
          );
        } else account = entry.account;
      }
      if (name !== undefined) {
        // IAM user names are unique regardless of case, so "Alice" and "alice" are the same user; users of
        // different accounts may share a name.
        const key = `${account ?? ''}/${name.toLowerCase()}`;
        const earlier = seen.get(key);
        if (earlier !== undefined) {
          check.fail(`${field}.name`, `repeats users[${earlier}].name (${name}${account ? ` in account ${account}` : ''})`);
        } else seen.set(key, i);
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
      let adoptKey: string | undefined;
      if (entry.adoptKey !== undefined) {
        if (typeof entry.adoptKey !== 'string' || !ACCESS_KEY_ID.test(entry.adoptKey)) {
          // The value is not echoed: a secret access key pasted into the wrong field must not reach a log.
          check.fail(
            `${field}.adoptKey`,
            `must be an access key id of the user ${JSON.stringify(entry.name)} (16 to 128 upper-case letters and digits, such as "AKIAIOSFODNN7EXAMPLE")`,
          );
        } else adoptKey = entry.adoptKey;
      }
      const readers = check.principals(`${field}.readers`, entry.readers);
      if (name !== undefined) {
        users.push({
          name,
          ...(notifyEmails ? { notifyEmails } : {}),
          ...(account !== undefined ? { account } : {}),
          ...(adoptKey !== undefined ? { adoptKey } : {}),
          ...(readers !== undefined && readers.length > 0 ? { readers } : {}),
        });
      }
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
      : check.oneOf<OldKeyPolicy>('oldKeyPolicy', raw.oldKeyPolicy, OLD_KEY_POLICIES);
  const grace = check.duration('grace', raw.grace, DEFAULTS.grace);
  const graceMax = check.duration('graceMax', raw.graceMax, DEFAULTS.graceMax);
  const usageLag = check.duration('usageLag', raw.usageLag, DEFAULTS.usageLag, true);
  if (grace !== undefined && graceMax !== undefined && durationSeconds(graceMax)! < durationSeconds(grace)!) {
    check.fail('graceMax', `must be at least grace (${grace}), got ${JSON.stringify(graceMax)}`);
  }
  if (oldKeyPolicy !== undefined && oldKeyPolicy !== 'grace') {
    for (const field of ['grace', 'graceMax', 'usageLag'] as const) {
      if (raw[field] !== undefined) check.fail(field, `applies only to oldKeyPolicy "grace", not ${JSON.stringify(oldKeyPolicy)}`);
    }
  }
  let sweepSchedule: string | undefined = DEFAULTS.sweepSchedule;
  if (raw.sweepSchedule !== undefined) {
    sweepSchedule = check.string('sweepSchedule', raw.sweepSchedule);
    if (sweepSchedule !== undefined && !SCHEDULE_EXPRESSION.test(sweepSchedule)) {
      sweepSchedule = check.fail(
        'sweepSchedule',
        `must be an EventBridge Scheduler expression such as "rate(1 hour)", "rate(30 minutes)" or "cron(15 * * * ? *)", got ${JSON.stringify(sweepSchedule)}`,
      );
    }
  }
  let memberRoleName: string | undefined = DEFAULTS.memberRoleName;
  if (raw.memberRoleName !== undefined) {
    memberRoleName = check.string('memberRoleName', raw.memberRoleName);
    if (memberRoleName !== undefined && !IAM_ROLE_NAME.test(memberRoleName)) {
      memberRoleName = check.fail(
        'memberRoleName',
        `must be an IAM role name of 1 to 64 letters, digits or + = , . @ _ -, got ${JSON.stringify(memberRoleName)}`,
      );
    }
  }
  let memberExternalId: string | undefined;
  if (raw.memberExternalId !== undefined) {
    memberExternalId = check.string('memberExternalId', raw.memberExternalId);
    if (memberExternalId !== undefined && !EXTERNAL_ID.test(memberExternalId)) {
      memberExternalId = check.fail(
        'memberExternalId',
        'must be 2 to 1,224 of letters, digits or + = , . @ : / _ - (what STS accepts as an external id)',
      );
    }
  }
  const organization = raw.organization === undefined ? undefined : parseOrganization(check, raw.organization);
  const memberAccounts = new Set(users.flatMap((user) => (user.account ? [user.account] : [])));
  if (organization === undefined && memberAccounts.size > MAX_MEMBER_ACCOUNTS) {
    check.fail(
      'users',
      `name ${memberAccounts.size} member accounts; without an organization the function's policy names the member role of each, and holds at most ${MAX_MEMBER_ACCOUNTS}: configure "organization" to cover more`,
    );
  }
  const customerManagedKey =
    raw.customerManagedKey === undefined ? DEFAULTS.customerManagedKey : check.boolean('customerManagedKey', raw.customerManagedKey);
  const secretWriterArns = check.principals('secretWriterArns', raw.secretWriterArns);
  const operatorPrincipalArns = check.principals('operatorPrincipalArns', raw.operatorPrincipalArns);
  const sweepPrincipalArns = check.principals('sweepPrincipalArns', raw.sweepPrincipalArns);
  const recoverPrincipalArns = check.principals('recoverPrincipalArns', raw.recoverPrincipalArns);
  const stuckAfter = check.duration('stuckAfter', raw.stuckAfter, DEFAULTS.stuckAfter, true);
  const securityHubFindings =
    raw.securityHubFindings === undefined ? DEFAULTS.securityHubFindings : check.boolean('securityHubFindings', raw.securityHubFindings);
  const readerRoleName = check.roleName('readerRoleName', raw.readerRoleName, DEFAULTS.readerRoleName);
  if (readerRoleName !== undefined && memberRoleName !== undefined && readerRoleName === memberRoleName) {
    check.fail('readerRoleName', `must differ from memberRoleName (${memberRoleName}): the operators' read-only role is a role of its own`);
  }
  if (raw.readerRoleName !== undefined && raw.operatorPrincipalArns === undefined) {
    check.fail('readerRoleName', 'applies only with operatorPrincipalArns, whom the reader role trusts');
  }
  if (memberAccounts.size === 0 && organization === undefined) {
    // readerRoleName also names the central account's reader role, so it applies without members too.
    for (const field of ['memberRoleName', 'memberExternalId', 'sweepPrincipalArns'] as const) {
      if (raw[field] !== undefined) check.fail(field, 'applies only when a user names an account or an organization is configured');
    }
  }
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
  const accountConcurrency =
    raw.accountConcurrency === undefined
      ? DEFAULTS.accountConcurrency
      : check.integer('accountConcurrency', raw.accountConcurrency, 1, 1_000_000);
  let reservedConcurrency =
    raw.reservedConcurrency === undefined
      ? undefined
      : check.integer('reservedConcurrency', raw.reservedConcurrency, 1, 1_000_000);
  if (reservedConcurrency !== undefined && accountConcurrency !== undefined) {
    // Lambda refuses a reservation that leaves the account less than 100 unreserved, so CloudFormation would fail the
    // function, and with it the deployment (Lambda developer guide, "Configuring reserved concurrency").
    const most = accountConcurrency - MIN_UNRESERVED_CONCURRENCY;
    if (reservedConcurrency > most) {
      reservedConcurrency = check.fail(
        'reservedConcurrency',
        most < 1
          ? `cannot be reserved in an account whose concurrency quota (accountConcurrency) is ${accountConcurrency}: Lambda keeps ${MIN_UNRESERVED_CONCURRENCY} unreserved; leave reservedConcurrency out, or raise the quota first`
          : `must be at most accountConcurrency (${accountConcurrency}) less the ${MIN_UNRESERVED_CONCURRENCY} that Lambda keeps unreserved, ${most}, less what other functions of the account reserve; got ${reservedConcurrency}`,
      );
    }
  } else if (raw.accountConcurrency !== undefined && raw.reservedConcurrency === undefined) {
    check.fail('accountConcurrency', 'applies only with reservedConcurrency');
  }
  const maxKeyAgeDays =
    raw.maxKeyAgeDays === undefined ? DEFAULTS.maxKeyAgeDays : check.integer('maxKeyAgeDays', raw.maxKeyAgeDays, 1, 2000);
  checkKeyAge(check, raw, { rotationDays, oldKeyPolicy, grace, graceMax, usageLag, sweepSchedule, maxKeyAgeDays });

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
    accountConcurrency: accountConcurrency!,
    maxKeyAgeDays: maxKeyAgeDays!,
    grace: grace!,
    graceMax: graceMax!,
    usageLag: usageLag!,
    sweepSchedule: sweepSchedule!,
    memberRoleName: memberRoleName!,
    ...(memberExternalId !== undefined ? { memberExternalId } : {}),
    ...(organization !== undefined ? { organization } : {}),
    customerManagedKey: customerManagedKey!,
    secretWriterArns: secretWriterArns!,
    operatorPrincipalArns: operatorPrincipalArns!,
    readerRoleName: readerRoleName!,
    sweepPrincipalArns: sweepPrincipalArns!,
    stuckAfter: stuckAfter!,
    recoverPrincipalArns: recoverPrincipalArns!,
    securityHubFindings: securityHubFindings!,
  };
}

/**
 * Refuses a schedule under which a key can stay active longer than maxKeyAgeDays (the age at which AWS Config's
 * access-keys-rotated, Security Hub's IAM.3 and CIS flag it), and, under grace, a rotationDays shorter than grace +
 * usageLag (every rotation would meet a previous key still in its grace).
 */
function checkKeyAge(
  check: Checker,
  raw: Record<string, unknown>,
  fields: {
    rotationDays?: number;
    oldKeyPolicy?: OldKeyPolicy;
    grace?: string;
    graceMax?: string;
    usageLag?: string;
    sweepSchedule?: string;
    maxKeyAgeDays?: number;
  },
): void {
  const { rotationDays, oldKeyPolicy, grace, graceMax, usageLag, sweepSchedule, maxKeyAgeDays } = fields;
  if (
    rotationDays === undefined ||
    oldKeyPolicy === undefined ||
    grace === undefined ||
    graceMax === undefined ||
    usageLag === undefined ||
    sweepSchedule === undefined ||
    maxKeyAgeDays === undefined
  ) {
    return; // Another message already names the field that is wrong.
  }
  const inputs = { rotationDays, oldKeyPolicy, graceMaxSecs: durationSeconds(graceMax)!, sweepSchedule };
  const age = maxActiveKeyAge(inputs);
  if (age.total > maxKeyAgeDays * 86_400) {
    const fitting = largestRotationDays(maxKeyAgeDays, inputs);
    // The message goes to the first of the fields that the file sets, which is what made the age too long.
    const culprit = (['rotationDays', 'graceMax', 'sweepSchedule', 'maxKeyAgeDays'] as const).find((f) => raw[f] !== undefined) ?? 'rotationDays';
    check.fail(
      culprit,
      `lets a key stay active ${formatDuration(age.total)} (${age.terms.map(([name]) => name).join(' + ')}), longer than maxKeyAgeDays (${maxKeyAgeDays} d), ` +
        `at which AWS Config's access-keys-rotated, Security Hub's IAM.3 and CIS flag it: ` +
        (fitting > 0 ? `set rotationDays to at most ${fitting}` : 'no rotationDays fits') +
        (oldKeyPolicy === 'grace' ? ', or shorten graceMax or sweepSchedule' : '') +
        (fitting > 0 ? '' : ', or raise maxKeyAgeDays'),
    );
  }
  if (oldKeyPolicy === 'grace' && rotationDays * 86_400 < durationSeconds(grace)! + durationSeconds(usageLag)!) {
    check.fail(
      'rotationDays',
      `must be at least grace (${grace}) + usageLag (${usageLag}): a rotation sooner would always meet the previous key still in its grace; got ${rotationDays}`,
    );
  }
}

/** Validates the `organization` field: its id, the organizational units (or root) to roll the member role out to, and callAs. */
function parseOrganization(check: Checker, raw: unknown): OrganizationConfig | undefined {
  if (!isObject(raw)) {
    return check.fail('organization', 'must be an object such as {"id": "o-a1b2c3d4e5", "organizationalUnits": ["ou-ab12-34cd56ef"]}');
  }
  check.unknownFields('organization.', raw, ORGANIZATION_FIELDS);
  let id = check.string('organization.id', raw.id);
  if (id !== undefined && !ORGANIZATION_ID.test(id)) {
    id = check.fail('organization.id', `must be an organization id such as "o-a1b2c3d4e5", got ${JSON.stringify(id)}`);
  }
  const units: string[] = [];
  if (!Array.isArray(raw.organizationalUnits) || raw.organizationalUnits.length === 0) {
    check.fail('organization.organizationalUnits', 'must be a non-empty list of organizational unit ids ("ou-...") or the root id ("r-...")');
  } else if (raw.organizationalUnits.length > MAX_ORGANIZATIONAL_UNITS) {
    check.fail('organization.organizationalUnits', `lists ${raw.organizationalUnits.length} units; at most ${MAX_ORGANIZATIONAL_UNITS}`);
  } else {
    raw.organizationalUnits.forEach((unit: unknown, i: number) => {
      const field = `organization.organizationalUnits[${i}]`;
      if (typeof unit !== 'string' || !(ORGANIZATIONAL_UNIT_ID.test(unit) || ROOT_ID.test(unit))) {
        check.fail(field, `must be an organizational unit id such as "ou-ab12-34cd56ef" or a root id such as "r-ab12", got ${JSON.stringify(unit)}`);
      } else if (units.includes(unit)) check.fail(field, `repeats ${unit}`);
      else units.push(unit);
    });
  }
  const callAs =
    raw.callAs === undefined ? 'SELF' : check.oneOf<'SELF' | 'DELEGATED_ADMIN'>('organization.callAs', raw.callAs, ['SELF', 'DELEGATED_ADMIN']);
  if (id === undefined || callAs === undefined || units.length !== (raw.organizationalUnits as unknown[]).length) return undefined;
  return { id, organizationalUnits: units, callAs };
}
