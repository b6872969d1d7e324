/** Who may read and who may write the secrets: each secret's resource policy (its readers, and the function's role, CloudFormation's execution role and the named writers as the only writers) and the customer-managed KMS key that encrypts them. */
import { Aws, Duration, Fn, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { skipCheckov } from './checkov';

/** What a reader may do with its secret: read the value and the metadata, nothing else. */
export const READ_ACTIONS = ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'];

/**
 * The actions that write a secret's value, move its stages or change who may do so, which only the writers (the
 * function's role, CloudFormation's execution role and `secretWriterArns`) may call. `UpdateSecret` with a
 * `SecretString` writes a value and moves AWSCURRENT (Secrets Manager API reference, UpdateSecret), and
 * `PutResourcePolicy`/`DeleteResourcePolicy` would remove this very Deny; CloudFormation needs all three to update and
 * remove the secrets and their policies, which is why its execution role is a writer.
 */
export const WRITE_ACTIONS = [
  'secretsmanager:PutSecretValue',
  'secretsmanager:UpdateSecretVersionStage',
  'secretsmanager:UpdateSecret',
  'secretsmanager:PutResourcePolicy',
  'secretsmanager:DeleteResourcePolicy',
];

/** The statement ids of the secrets' resource policies. */
export const SECRET_POLICY_SIDS = { readers: 'AllowNamedReaders', writers: 'DenyWritesButTheWriters' } as const;

/** The fixed logical id of the secrets' key. */
export const SECRETS_KEY_LOGICAL_ID = 'SecretsKey';

/** The most characters that a KMS key policy may hold (AWS KMS Developer Guide, "Key policies in AWS KMS"; quotas: 32 KB). */
export const MAX_KEY_POLICY_CHARS = 32_768;

/** The most characters that a secret's resource policy may hold (Secrets Manager User Guide, "Quotas": 20,480). */
export const MAX_SECRET_POLICY_CHARS = 20_480;

/**
 * The statements that one secret's resource policy adds to the one that CDK writes for a rotated secret (a Deny of
 * DeleteSecret to the account's root): its readers may read it, and no principal but the writers (the function's role,
 * CloudFormation's execution role and `secretWriterArns`) may write its value or its stages or change its policy. A Deny in a resource policy overrides any Allow of an identity
 * policy, so that a holder of `secretsmanager:*` cannot steer the value (IAM User Guide, "Policy evaluation logic").
 * `aws:PrincipalArn` is the role's ARN for a session of a role (IAM User Guide, "AWS global condition context keys").
 */
export function secretPolicyStatements(props: {
  readonly readers: readonly string[];
  readonly writerArns: readonly string[];
}): iam.PolicyStatement[] {
  const statements: iam.PolicyStatement[] = [];
  if (props.readers.length > 0) {
    statements.push(
      new iam.PolicyStatement({
        sid: SECRET_POLICY_SIDS.readers,
        principals: props.readers.map((arn) => new iam.ArnPrincipal(arn)),
        actions: READ_ACTIONS,
        // In a secret's resource policy, "*" is the secret itself (Secrets Manager User Guide, "Resource-based policies").
        resources: ['*'],
      }),
    );
  }
  statements.push(
    new iam.PolicyStatement({
      sid: SECRET_POLICY_SIDS.writers,
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: WRITE_ACTIONS,
      resources: ['*'],
      conditions: { ArnNotEquals: { 'aws:PrincipalArn': [...props.writerArns] } },
    }),
  );
  return statements;
}

/** The KMS actions with which the account administers the secrets' key, without using it: no Decrypt, no grant. */
export const KEY_ADMIN_ACTIONS = [
  'kms:CancelKeyDeletion',
  'kms:CreateAlias',
  'kms:DeleteAlias',
  'kms:DescribeKey',
  'kms:DisableKey',
  'kms:DisableKeyRotation',
  'kms:EnableKey',
  'kms:EnableKeyRotation',
  'kms:GetKeyPolicy',
  'kms:GetKeyRotationStatus',
  'kms:ListGrants',
  'kms:ListKeyPolicies',
  'kms:ListResourceTags',
  'kms:PutKeyPolicy',
  'kms:RetireGrant',
  'kms:RevokeGrant',
  'kms:ScheduleKeyDeletion',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:UpdateAlias',
  'kms:UpdateKeyDescription',
];

/** The statement ids of the secrets' key policy. */
export const KEY_POLICY_SIDS = {
  admin: 'AdministerTheKeyWithoutUsingIt',
  writers: 'AllowTheWritersThroughSecretsManager',
  readers: 'AllowDecryptForWhomSecretsManagerAdmits',
} as const;

/** The actions with which a writer encrypts a new value through Secrets Manager (and it checks access to the key). */
export const WRITER_KEY_ACTIONS = ['kms:Decrypt', 'kms:GenerateDataKey'];

/** The properties of a SecretsKey. */
export interface SecretsKeyProps {
  /** The name prefix of the deployment's secrets, such as "IamKeyRotator/". */
  readonly secretNamePrefix: string;
  /**
   * Who writes values under the key (the function's role, CloudFormation's execution role, `secretWriterArns`): the
   * key admits them by `aws:PrincipalArn`, never as principals, and IAM must allow them too.
   */
  readonly writerArns: readonly string[];
  /** The accounts, other than the deployment's, that hold readers of a secret (each reader's account). */
  readonly readerAccounts: readonly string[];
}

/**
 * The customer-managed key of the deployment's secrets. Its policy names no role or user as a principal: KMS refuses a
 * key policy whose principals it cannot yet see (KMS API reference, CreateKey `Policy`), and a role created seconds
 * earlier in the same deployment may not be visible yet, so the account is the principal and `aws:PrincipalArn`
 * narrows it. Three statements, whatever the number of users and readers:
 *
 * - the account administers the key without using it (no Decrypt, no grant);
 * - the writers (by `aws:PrincipalArn`: the function's role, CloudFormation's execution role, `secretWriterArns`) may
 *   GenerateDataKey and Decrypt through Secrets Manager for the deployment's secrets: Secrets Manager calls both with
 *   the caller's credentials when a secret is created under the key (encryption context `SecretVersionId` =
 *   `RequestToValidateKeyAccess`) and GenerateDataKey for every new value;
 * - anyone whom Secrets Manager admits to read a secret of the deployment may Decrypt through it, from this account or
 *   an account that holds a reader (`kms:CallerAccount`), as the key `aws/secretsmanager` does: who may read a secret is
 *   that secret's resource policy (and IAM), so the key policy grows with accounts, not readers.
 *
 * Secrets Manager User Guide, "Secret encryption and decryption in AWS Secrets Manager"
 * (https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html: GenerateDataKey for a new value,
 * Decrypt for GetSecretValue, both with the encryption context `SecretARN` and `SecretVersionId`, and the key policy of
 * `aws/secretsmanager`); AWS KMS Developer Guide, "AWS KMS condition keys" (`kms:ViaService`, `kms:CallerAccount`,
 * `kms:EncryptionContext:context-key`).
 */
export class SecretsKey extends Construct {
  /** The key. */
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: SecretsKeyProps) {
    super(scope, id);
    const viaSecretsManager = { 'kms:ViaService': `secretsmanager.${Aws.REGION}.amazonaws.com` };
    // Only the deployment's secrets: every one is named with the prefix.
    const deploymentSecrets = Fn.sub(`arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:${props.secretNamePrefix}*`);
    const accounts = [Aws.ACCOUNT_ID, ...[...new Set(props.readerAccounts)].sort()];
    const statements = [
      new iam.PolicyStatement({
        sid: KEY_POLICY_SIDS.admin,
        principals: [new iam.AccountRootPrincipal()],
        actions: KEY_ADMIN_ACTIONS,
        resources: ['*'],
      }),
      new iam.PolicyStatement({
        sid: KEY_POLICY_SIDS.writers,
        principals: [new iam.AccountRootPrincipal()],
        actions: WRITER_KEY_ACTIONS,
        resources: ['*'],
        conditions: {
          StringEquals: { ...viaSecretsManager, 'kms:CallerAccount': Aws.ACCOUNT_ID },
          StringLike: { 'kms:EncryptionContext:SecretARN': deploymentSecrets },
          ArnEquals: { 'aws:PrincipalArn': [...props.writerArns] },
        },
      }),
      new iam.PolicyStatement({
        sid: KEY_POLICY_SIDS.readers,
        // Any principal, but only through Secrets Manager and only from these accounts: Secrets Manager has already
        // decided (identity and resource policy) that the caller may read the secret before it calls Decrypt.
        principals: [new iam.AnyPrincipal()],
        actions: ['kms:Decrypt'],
        resources: ['*'],
        conditions: {
          StringEquals: { ...viaSecretsManager, 'kms:CallerAccount': accounts.length === 1 ? accounts[0] : accounts },
          StringLike: { 'kms:EncryptionContext:SecretARN': deploymentSecrets },
        },
      }),
    ];
    const size = estimatedPolicyChars(props);
    if (size > MAX_KEY_POLICY_CHARS) {
      throw new Error(
        `The readers' ${props.readerAccounts.length} accounts and the ${props.writerArns.length} writers would take the secrets ` +
          `key's policy to about ${size} characters, past KMS's ${MAX_KEY_POLICY_CHARS}: let readers of fewer accounts read.`,
      );
    }
    this.key = new kms.Key(this, 'Key', {
      description: 'Encrypts the secrets of the IAM access key rotator; Secrets Manager decides who may read each one.',
      enableKeyRotation: true,
      rotationPeriod: Duration.days(365),
      policy: new iam.PolicyDocument({ statements }),
      // The key outlives the stack: every version of every secret stays encrypted under it, in Secrets Manager's recovery
      // window and wherever a secret was kept, so deleting the stack (or turning customerManagedKey off) must not
      // schedule its deletion. infra/README.md says how to delete it by hand.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    (this.key.node.defaultChild as kms.CfnKey).overrideLogicalId(SECRETS_KEY_LOGICAL_ID);
    skipCheckov(this.key.node.defaultChild as kms.CfnKey, {
      id: 'CKV_AWS_33',
      comment:
        'The wildcard principal may only kms:Decrypt through Secrets Manager (kms:ViaService), from this account or a ' +
        'reader\'s account (kms:CallerAccount), for this deployment\'s secrets (kms:EncryptionContext:SecretARN), as the ' +
        'key aws/secretsmanager does: Secrets Manager calls Decrypt only for a caller that its identity and resource ' +
        'policies admitted to GetSecretValue, so who reads is the secret\'s policy. Naming the readers instead outgrew ' +
        'the 32 KB key policy at about 150 users.',
    });
  }
}

/**
 * A generous estimate of the characters of the key policy, with the longest partition and region names, so that the
 * synthesis refuses a policy that KMS would.
 */
function estimatedPolicyChars(props: SecretsKeyProps): number {
  return 4_000 + props.writerArns.reduce((n, arn) => n + Math.max(arn.length, 160) + 4, 0) + props.readerAccounts.length * 16;
}
