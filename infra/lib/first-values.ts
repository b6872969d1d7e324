/** The first value of each user's secret, and the record of the first values already synthesized, which pins them so that no later template change rewrites a deployed secret's value. */
import type { ManagedUser } from './config';
import { userKey } from './shards';

/**
 * The first value of a user's secret, exactly as the template writes it: `UserName`, then `AccountId` for a user of a
 * member account, then `AdoptAccessKeyId` for a user with `adoptKey`, as compact JSON.
 *
 * CloudFormation writes a new AWSCURRENT version whenever a secret's SecretString changes in the template
 * (CloudFormation resource reference, AWS::SecretsManager::Secret): a change of this text for a deployed secret would
 * replace its rotated value, and the key in it, with one that holds no key. So this text must never change for a user
 * once deployed; `pinFirstValues` keeps the text of every user already synthesized, and the tests pin its shape.
 */
export function firstSecretValue(user: ManagedUser): string {
  const value: Record<string, string> = { UserName: user.name };
  if (user.account !== undefined) value.AccountId = user.account;
  if (user.adoptKey !== undefined) value.AdoptAccessKeyId = user.adoptKey;
  return JSON.stringify(value);
}

/**
 * The record of first values: by stack name, by user key (`alice`, `111122223333/alice`), the first value that the
 * synthesis gave that user's secret. The app keeps it in a file next to the configuration (see the infra README).
 */
export type FirstValues = Record<string, Record<string, string>>;

/** What pinFirstValues decided. */
export interface PinnedFirstValues {
  /** The first value of each user's secret, by user key. */
  readonly values: ReadonlyMap<string, string>;
  /** The record to keep: this stack's users as they are now, the other stacks' untouched. */
  readonly record: FirstValues;
  /** One sentence per user whose configuration asks for a first value that its deployed secret cannot take. */
  readonly problems: readonly string[];
}

/**
 * Gives each user of a stack its first value: the recorded one for a user already synthesized (so that a change of
 * the first value's shape, or an `adoptKey` added later, never reaches a deployed secret), the computed one for a new
 * user. A user whose `adoptKey` its recorded value lacks is a problem: its secret exists, and adoption must go through
 * `rotator adopt`, which changes the value without replacing its key. Users no longer configured leave the record, so
 * that one added again later (a new secret) takes its configuration afresh.
 */
export function pinFirstValues(
  stackName: string,
  users: readonly ManagedUser[],
  recorded: FirstValues | undefined,
  recordName: string,
): PinnedFirstValues {
  const previous = recorded?.[stackName] ?? {};
  const values = new Map<string, string>();
  const problems: string[] = [];
  users.forEach((user, i) => {
    const key = userKey(user);
    const pinned = previous[key];
    if (pinned === undefined) {
      values.set(key, firstSecretValue(user));
      return;
    }
    values.set(key, pinned);
    if (user.adoptKey !== undefined && adoptedKeyOf(pinned) !== user.adoptKey) {
      problems.push(
        `users[${i}].adoptKey: the secret ${stackName}/${key} exists already (${recordName} records its first value), and ` +
          'CloudFormation applies a first value only when it creates a secret: changing it now would replace the rotated ' +
          `value and its key. Run \`rotator adopt ${stackName}/${key} --key ${user.adoptKey}\` instead, then remove adoptKey ` +
          `(if that secret was never deployed, delete its entry from ${recordName}).`,
      );
    }
  });
  const record: FirstValues = { ...(recorded ?? {}), [stackName]: Object.fromEntries([...values.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) };
  return { values, record, problems };
}

/** The AdoptAccessKeyId of a recorded first value, if it has one. */
function adoptedKeyOf(value: string): string | undefined {
  try {
    const parsed = JSON.parse(value);
    return typeof parsed?.AdoptAccessKeyId === 'string' ? parsed.AdoptAccessKeyId : undefined;
  } catch {
    return undefined;
  }
}

/** Checks the shape of a record read from a file, and says what is wrong with it. */
export function parseFirstValues(raw: unknown, recordName: string): FirstValues {
  const fail = (what: string): never => {
    throw new Error(`${recordName}: ${what}. It records the first values of the deployed secrets; restore it from version control rather than edit it.`);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('must hold one JSON object, by stack name');
  for (const [stack, users] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof users !== 'object' || users === null || Array.isArray(users)) fail(`${stack} must map user keys to first values`);
    for (const [key, value] of Object.entries(users as Record<string, unknown>)) {
      if (typeof value !== 'string') fail(`${stack}.${key} must be the first value's JSON text`);
    }
  }
  return raw as FirstValues;
}
