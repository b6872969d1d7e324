/** The stable assignment of managed users to the nested stacks (shards) that hold their secrets, and the limits that keep every shard within CloudFormation's quotas. */
import { createHash } from 'node:crypto';

/**
 * The number of shards. It is fixed for the life of a deployment: a user's shard depends on this number
 * and the user's name only, so adding or removing a user never moves another user's secret. Changing it
 * would move most secrets to another nested stack, which CloudFormation does by deleting and re-creating
 * them, so it must never change.
 */
export const SHARD_COUNT = 100;

/** The CloudFormation resources that one user adds to its shard: the secret, its rotation schedule and its resource policy. */
export const RESOURCES_PER_USER = 3;

/**
 * The most users one shard may hold: 150 users are 450 resources, safely under CloudFormation's 500 per
 * stack (a shard has no other resource). With 100 shards a deployment of 10,000 users puts about 100 users
 * in a shard on average, and a shard over this limit is practically impossible below that.
 */
export const MAX_USERS_PER_SHARD = 150;

/**
 * How many shards CloudFormation creates at the same time. Each shard creates its rotation schedules one
 * after another, so a first deployment starts at most this many rotations at a time (see the README).
 */
export const PARALLEL_SHARDS = 10;

/** The shard of a user: the first four bytes of the SHA-256 of the lower-cased user key (IAM names ignore case), modulo SHARD_COUNT. */
export function shardOf(key: string): number {
  return createHash('sha256').update(key.toLowerCase()).digest().readUInt32BE(0) % SHARD_COUNT;
}

/** The construct id, and the logical id in the parent stack, of a shard's nested stack, such as "SecretShard07". */
export function shardId(shard: number): string {
  return `SecretShard${String(shard).padStart(2, '0')}`;
}

/**
 * What identifies a managed user within a deployment: its name, or for a user of a member account the account
 * and the name ("111122223333/alice"), as in the secret's name. A user without an account keeps the key it had
 * before accounts existed, so its secret stays where it is.
 */
export function userKey(user: { readonly name: string; readonly account?: string }): string {
  return user.account === undefined ? user.name : `${user.account}/${user.name}`;
}

/** Groups users by shard, each group in a stable order (lower-cased key), and the groups by shard number. */
export function groupByShard<T extends { readonly name: string; readonly account?: string }>(users: readonly T[]): Map<number, T[]> {
  const groups = new Map<number, T[]>();
  for (const user of users) {
    const shard = shardOf(userKey(user));
    const group = groups.get(shard);
    if (group) group.push(user);
    else groups.set(shard, [user]);
  }
  const key = (user: T) => userKey(user).toLowerCase();
  for (const group of groups.values()) group.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  return new Map([...groups.entries()].sort(([a], [b]) => a - b));
}
