/** Who may read and who may write the secrets: each secret's resource policy (its readers, and the function's role as the only writer) and the customer-managed KMS key that encrypts them. */
import { Aws, Duration, Fn, RemovalPolicy, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

/** What a reader may do with its secret: read the value and the metadata, nothing else. */
export const READ_ACTIONS = ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'];

/**
 * The actions that write a secret's value or move its stages, which only the function's role (and the writers named
 * in the configuration) may call. UpdateSecret is not among them: CloudFormation needs it to change a secret's
 * description or key, so it stays with whoever holds it in IAM (see infra/README.md, "Who may read and write").
 */
export const WRITE_ACTIONS = ['secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage'];

/** The statement ids of the secrets' resource policies. */
export const SECRET_POLICY_SIDS = { readers: 'AllowNamedReaders', writers: 'DenyWritesButTheRotator' } as const;

/** The fixed logical id of the secrets' key. */
export const SECRETS_KEY_LOGICAL_ID = 'SecretsKey';

/** The most characters that a KMS key policy may hold (AWS KMS Developer Guide, "Key policies in AWS KMS"; quotas: 32 KB). */
export const MAX_KEY_POLICY_CHARS = 32_768;

/**
 * The statements that one secret's resource policy adds to the one that CDK writes for a rotated secret (a Deny of
 * DeleteSecret to the account's root): its readers may read it, and no principal but the function's role and the
 * named writers may write its value or its stages. A Deny in a resource policy overrides any Allow of an identity
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
  encrypt: 'EncryptNewSecretValuesThroughSecretsManager',
  rotator: 'AllowTheRotatorThroughSecretsManager',
  operators: 'AllowTheOperatorsToDecryptThroughSecretsManager',
  reader: 'AllowReaderToDecryptItsSecrets',
} as const;

/** The properties of a SecretsKey. */
export interface SecretsKeyProps {
  /** The function's role, which encrypts and decrypts every secret of the deployment. */
  readonly functionRole: iam.IRole;
  /** The name prefix of the deployment's secrets, such as "IamKeyRotator/". */
  readonly secretNamePrefix: string;
  /** The secrets that each reader may decrypt, by the reader's ARN: the secrets' names. */
  readonly readers: ReadonlyMap<string, readonly string[]>;
  /** The operators, who may decrypt every secret of the deployment through Secrets Manager (`rotator status`). */
  readonly operatorArns: readonly string[];
}

/**
 * The customer-managed key of the deployment's secrets. Its policy lets the account administer the key but not use it
 * (the account's principals may only encrypt new values through Secrets Manager, which CreateSecret needs); only the
 * function's role, the operators, and each secret's readers may decrypt, only through Secrets Manager
 * (`kms:ViaService`), and a reader only the secrets it is named for (`kms:EncryptionContext:SecretARN`). Secrets Manager
 * calls GenerateDataKey for a new value and Decrypt for GetSecretValue, with the encryption context
 * `{"SecretARN": ..., "SecretVersionId": ...}` (Secrets Manager User Guide, "Secret encryption and decryption in AWS
 * Secrets Manager", https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html; AWS KMS
 * Developer Guide, "kms:ViaService" and "kms:EncryptionContext:context-key").
 */
export class SecretsKey extends Construct {
  /** The key. */
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: SecretsKeyProps) {
    super(scope, id);
    const viaSecretsManager = { 'kms:ViaService': `secretsmanager.${Aws.REGION}.amazonaws.com` };
    // One Fn::Sub string per ARN rather than CDK's Fn::Join of seven parts: the key policy names a secret per reader grant,
    // and the parent template stays compact.
    const secretArn = (name: string) =>
      Fn.sub(`arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:${name}`);
    // A secret's ARN is its name, "-" and six random characters: "-??????" matches exactly that secret.
    const deploymentSecrets = secretArn(`${props.secretNamePrefix}*`);
    const statements = [
      new iam.PolicyStatement({
        sid: KEY_POLICY_SIDS.admin,
        principals: [new iam.AccountRootPrincipal()],
        actions: KEY_ADMIN_ACTIONS,
        resources: ['*'],
      }),
      new iam.PolicyStatement({
        sid: KEY_POLICY_SIDS.encrypt,
        // Any principal of the account that IAM allows, so that CloudFormation (with the deployer's role) can create the
        // secrets; a data key encrypts a new value and reveals none of the stored ones.
        principals: [new iam.AccountRootPrincipal()],
        actions: ['kms:GenerateDataKey'],
        resources: ['*'],
        conditions: {
          StringEquals: { ...viaSecretsManager, 'kms:CallerAccount': Aws.ACCOUNT_ID },
          StringLike: { 'kms:EncryptionContext:SecretARN': deploymentSecrets },
        },
      }),
      new iam.PolicyStatement({
        sid: KEY_POLICY_SIDS.rotator,
        principals: [new iam.ArnPrincipal(props.functionRole.roleArn)],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: {
          StringEquals: viaSecretsManager,
          StringLike: { 'kms:EncryptionContext:SecretARN': deploymentSecrets },
        },
      }),
    ];
    if (props.operatorArns.length > 0) {
      statements.push(
        new iam.PolicyStatement({
          sid: KEY_POLICY_SIDS.operators,
          principals: props.operatorArns.map((arn) => new iam.ArnPrincipal(arn)),
          actions: ['kms:Decrypt'],
          resources: ['*'],
          conditions: {
            StringEquals: viaSecretsManager,
            StringLike: { 'kms:EncryptionContext:SecretARN': deploymentSecrets },
          },
        }),
      );
    }
    let index = 0;
    for (const [reader, names] of [...props.readers].sort(([a], [b]) => a.localeCompare(b))) {
      statements.push(
        new iam.PolicyStatement({
          sid: `${KEY_POLICY_SIDS.reader}${index++}`,
          principals: [new iam.ArnPrincipal(reader)],
          actions: ['kms:Decrypt'],
          resources: ['*'],
          conditions: {
            StringEquals: viaSecretsManager,
            StringLike: { 'kms:EncryptionContext:SecretARN': [...names].sort().map((name) => secretArn(`${name}-??????`)) },
          },
        }),
      );
    }
    const size = estimatedPolicyChars(props);
    if (size > MAX_KEY_POLICY_CHARS) {
      throw new Error(
        `The readers name ${[...props.readers.values()].reduce((n, names) => n + names.length, 0)} secrets in all, which ` +
          `would take the secrets key's policy to about ${size} characters, past KMS's ${MAX_KEY_POLICY_CHARS}: give fewer ` +
          'readers, or let one reader role read for several consumers.',
      );
    }
    this.key = new kms.Key(this, 'Key', {
      description: 'Encrypts the secrets of the IAM access key rotator; only the rotator, its operators and each secret\'s readers may decrypt.',
      enableKeyRotation: true,
      rotationPeriod: Duration.days(365),
      policy: new iam.PolicyDocument({ statements }),
      // The key outlives the stack for KMS's waiting period, so that a secret restored from Secrets Manager's recovery
      // window can still be read.
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(30),
    });
    (this.key.node.defaultChild as kms.CfnKey).overrideLogicalId(SECRETS_KEY_LOGICAL_ID);
  }
}

/**
 * A generous estimate of the characters of the key policy, with the longest partition and region names and every
 * secret's name at full length, so that the synthesis refuses a policy that KMS would.
 */
function estimatedPolicyChars(props: SecretsKeyProps): number {
  const arnOverhead = 'arn:aws-iso-b:secretsmanager:ap-southeast-5:123456789012:secret:-??????'.length + 4;
  let chars = 4_000 + props.operatorArns.reduce((n, arn) => n + arn.length + 4, 0);
  for (const [reader, names] of props.readers) {
    chars += 400 + reader.length;
    for (const name of names) chars += arnOverhead + (Token.isUnresolved(name) ? 128 : name.length);
  }
  return chars;
}
