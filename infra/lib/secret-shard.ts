/** One shard of the managed users: a nested stack that holds their secrets and rotation schedules, so that no stack outgrows CloudFormation's quotas. */
import { createHash } from 'node:crypto';
import { type Duration, NestedStack, SecretValue, Tags } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import type { ManagedUser } from './config';
import { firstSecretValue } from './first-values';
import { secretPolicyStatements } from './secret-access';
import { userKey } from './shards';

/** The properties of a SecretShard. */
export interface SecretShardProps {
  /** The users of this shard, in the order in which their rotation schedules are created. */
  readonly users: readonly ManagedUser[];
  /** The name of the deployment (the parent stack), which prefixes every secret's name. */
  readonly deploymentName: string;
  /** The rotation function, as a reference that adds no permission of its own. */
  readonly rotationTarget: lambda.IFunction;
  /** How often each secret rotates. */
  readonly rotationInterval: Duration;
  /** Whether creating (or changing) a rotation schedule starts a rotation at once. */
  readonly rotateImmediately: boolean;
  /** The first value of each user's secret, by user key (see first-values.ts); computed for a user absent here. */
  readonly firstValues?: ReadonlyMap<string, string>;
  /** The ARN of the customer-managed key that encrypts the secrets; absent: Secrets Manager's aws/secretsmanager. */
  readonly keyArn?: string;
  /** The only principals that may write a secret's value or stages or its policy: the function's role, CloudFormation's execution role and the named writers. */
  readonly writerArns: readonly string[];
}

/**
 * The logical id of a user's secret, from the user's key (its name, or "<account>/<name>", see userKey). It is
 * derived from that key alone, so that reordering, adding or removing other users never replaces a secret; the
 * hash keeps names that differ only in punctuation apart.
 */
export function secretLogicalId(key: string): string {
  const alphanumeric = key.replace(/[^A-Za-z0-9]/g, '');
  const hash = createHash('sha256').update(key.toLowerCase()).digest('hex').slice(0, 8).toUpperCase();
  return `UserSecret${alphanumeric}${hash}`;
}

/**
 * The name of a user's secret: "<deployment>/<user>", or "<deployment>/<account>/<user>" for a user of a member
 * account. The function binds a secret to the user named by the last "/"-separated segment of its name, and to the
 * account named by the segment before it when the value holds AccountId; the role reaches only "<deployment>/".
 */
export function secretName(deploymentName: string, user: ManagedUser): string {
  return `${deploymentName}/${userKey(user)}`;
}

/** A nested stack with one secret, one rotation schedule and one resource policy per user of the shard. */
export class SecretShard extends NestedStack {
  /** Each user's secret, by user key (the name, or "<account>/<name>"). */
  readonly secrets = new Map<string, secretsmanager.Secret>();
  /** Each user's rotation schedule, in creation order. */
  readonly schedules: secretsmanager.RotationSchedule[] = [];

  constructor(scope: Construct, id: string, props: SecretShardProps) {
    super(scope, id, { description: `Secrets of the IAM access key rotator ${props.deploymentName}, ${id}.` });
    let previous: secretsmanager.RotationSchedule | undefined;
    for (const user of props.users) {
      const key = userKey(user);
      // The text is fixed by firstSecretValue and, once synthesized, by the record of first values: CloudFormation
      // would write a changed text over the deployed secret's rotated value (see first-values.ts). It holds no secret.
      const value = SecretValue.unsafePlainText(props.firstValues?.get(key) ?? firstSecretValue(user));
      // Construct ids of users without an account start with "Secret-" and others with "AccountSecret-", so
      // that no user name can make two of them collide.
      const id = user.account === undefined ? `Secret-${user.name}` : `AccountSecret-${user.account}-${user.name}`;
      const secret = new secretsmanager.Secret(this, id, {
        secretName: secretName(props.deploymentName, user),
        description:
          user.account === undefined
            ? `IAM access key of the user ${user.name}, rotated by ${props.deploymentName}.`
            : `IAM access key of the user ${user.name} of the account ${user.account}, rotated by ${props.deploymentName}.`,
        secretStringValue: value,
      });
      const cfnSecret = secret.node.defaultChild as secretsmanager.CfnSecret;
      cfnSecret.overrideLogicalId(secretLogicalId(key));
      // Set on the resource rather than as the Secret's encryptionKey, with which CDK would let every principal of the
      // account decrypt through Secrets Manager: the key's own policy says who may (lib/secret-access.ts).
      if (props.keyArn !== undefined) cfnSecret.kmsKeyId = props.keyArn;
      if (user.notifyEmails && user.notifyEmails.length > 0) {
        Tags.of(secret).add('NotifyEmail', user.notifyEmails.join(','));
      }
      const schedule = secret.addRotationSchedule('Rotation', {
        rotationLambda: props.rotationTarget,
        automaticallyAfter: props.rotationInterval,
        rotateImmediatelyOnUpdate: props.rotateImmediately,
      });
      // The schedules of a shard are created one after another, so that a first deployment of thousands of
      // secrets starts a few rotations at a time instead of all of them at once (IAM throttles its write
      // APIs per account). The chain only orders creation: a changed DependsOn replaces nothing.
      if (previous) schedule.node.addDependency(previous);
      // The readers and the writer-only rule join the resource policy that the rotation schedule created (the Deny of
      // DeleteSecret to the account's root): still one policy resource per secret.
      for (const statement of secretPolicyStatements({ readers: user.readers ?? [], writerArns: props.writerArns })) {
        secret.addToResourcePolicy(statement);
      }
      // Secrets Manager refuses a policy that would grant broad access (a wildcard principal in an Allow), whoever
      // writes it later (PutResourcePolicy, BlockPublicPolicy).
      const policy = secret.node.findChild('Policy').node.defaultChild as secretsmanager.CfnResourcePolicy;
      policy.blockPublicPolicy = true;
      previous = schedule;
      this.secrets.set(key, secret);
      this.schedules.push(schedule);
    }
  }
}
