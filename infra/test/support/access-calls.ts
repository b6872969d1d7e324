/**
 * The rows and columns of the access matrix: who calls (each principal with the identity policies it has) and what it
 * calls (each AWS request with the resource policy that governs it and the request context that AWS sends with it).
 *
 * Where each context key comes from (every one is sent by AWS, not chosen by the caller):
 * - `aws:PrincipalArn`, `aws:PrincipalAccount` (for a role's session the role's ARN), `aws:SourceArn`,
 *   `aws:SourceAccount` (a service calling on behalf of a resource), `aws:ResourceOrgID`, `aws:ResourceOrgPaths` (of the
 *   role being assumed), `aws:TagKeys`: IAM User Guide, "AWS global condition context keys",
 *   https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
 * - `kms:ViaService`, `kms:CallerAccount`, `kms:EncryptionContext:<key>`: AWS KMS Developer Guide, "AWS KMS condition
 *   keys", https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html
 * - the encryption context `SecretARN` and `SecretVersionId` of every GenerateDataKey and Decrypt that Secrets Manager
 *   makes, and `SecretVersionId` = `RequestToValidateKeyAccess` for the key-access check of CreateSecret (GenerateDataKey
 *   and Decrypt with the caller's credentials): Secrets Manager User Guide, "Secret encryption and decryption in AWS
 *   Secrets Manager", https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html
 * - `secretsmanager:resource/AllowRotationLambdaArn` (the secret's rotation function, on every request about the
 *   secret): Service Authorization Reference, Secrets Manager,
 *   https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecretsmanager.html
 * - `ses:FromAddress`: SES Developer Guide, "Controlling access to Amazon SES" (condition keys),
 *   https://docs.aws.amazon.com/ses/latest/dg/control-user-access.html
 * - Secrets Manager invoking a rotation function sends `aws:SourceAccount` and `aws:SourceArn` (the secret): Secrets
 *   Manager User Guide, "Permissions for rotation" (confused deputy),
 *   https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotating-secrets-required-permissions-function.html
 * - `securityhub:BatchImportFindings` is authorized against the `product` resource type
 *   (`arn:${Partition}:securityhub:${Region}:${Account}:product/${Company}/${ProductId}`), whose default product is
 *   `product/<account>/default`: Service Authorization Reference, AWS Security Hub,
 *   https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecurityhub.html
 */
import { CENTRAL, type Authorization, type DeployedStack, MEMBER, ORGANIZATION_ID, ORGANIZATION_ROOT, PARTITION, type PolicyDocument, type Principal, REGION, resources, secretArn } from './access-world';

/** Another account, which has nothing to do with the deployment. */
export const OTHER = '444455556666';
/** The account of a reader of another account. */
export const READER_ACCOUNT = '777788889999';

/** The policy of an administrator: everything. */
const ADMINISTRATOR: PolicyDocument = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };

/** What the matrix reads from the deployed world. */
export interface World {
  readonly stacks: readonly DeployedStack[];
  readonly central: DeployedStack;
  readonly member?: DeployedStack;
  readonly stackName: string;
  readonly functionArn: string;
  readonly functionPolicy: PolicyDocument;
  readonly keyArn: string;
  readonly keyPolicy: PolicyDocument;
  readonly alertKeyArn: string;
  readonly alertKeyPolicy: PolicyDocument;
  readonly topicArn: string;
  readonly topicPolicy: PolicyDocument;
  readonly sweepQueueArn: string;
  readonly sweepQueuePolicy?: PolicyDocument;
  /** Each secret's ARN and resource policy, by secret name. */
  readonly secrets: ReadonlyMap<string, { arn: string; policy: PolicyDocument }>;
  /** Each role of the world, by ARN: its trust policy and identity policies. */
  readonly roles: ReadonlyMap<string, { trust: PolicyDocument; identity: PolicyDocument[] }>;
}

/** The roles of a stack: each role's ARN with its trust policy and its inline and attached policies. */
function rolesOf(stack: DeployedStack): Map<string, { trust: PolicyDocument; identity: PolicyDocument[] }> {
  const roles = new Map<string, { trust: PolicyDocument; identity: PolicyDocument[] }>();
  const policies = Object.values(resources(stack, 'AWS::IAM::Policy'));
  for (const [id, role] of Object.entries(resources(stack, 'AWS::IAM::Role'))) {
    const name = role.RoleName ?? id;
    roles.set(`arn:${PARTITION}:iam::${stack.account}:role/${name}`, {
      trust: role.AssumeRolePolicyDocument,
      identity: [
        ...(role.Policies ?? []).map((p: any) => p.PolicyDocument),
        ...policies.filter((p) => (p.Roles ?? []).includes(name)).map((p) => p.PolicyDocument),
      ],
    });
  }
  return roles;
}

/** The world of the deployed stacks: the central stack first, its shards, then the StackSet's member stack. */
export function worldOf(stacks: readonly DeployedStack[], stackName: string): World {
  const central = stacks.find((s) => s.name === stackName)!;
  const member = stacks.find((s) => s.account === MEMBER);
  const one = (type: string, where: (p: any, id: string) => boolean = () => true): [string, any] => {
    const found = Object.entries(resources(central, type)).filter(([id, p]) => where(p, id));
    if (found.length !== 1) throw new Error(`${found.length} resources of type ${type} match in ${central.name}`);
    return found[0];
  };
  const [functionId] = one('AWS::Lambda::Function');
  const functionArn = `arn:${PARTITION}:lambda:${REGION}:${CENTRAL}:function:${functionId}`;
  // The function's resource policy: one statement per Lambda permission.
  const functionPolicy: PolicyDocument = {
    Version: '2012-10-17',
    Statement: Object.values(resources(central, 'AWS::Lambda::Permission')).map((p: any) => ({
      Effect: 'Allow',
      Principal: p.Principal.endsWith('.amazonaws.com') ? { Service: p.Principal } : { AWS: p.Principal },
      Action: p.Action,
      Resource: functionArn,
      ...(p.SourceAccount || p.SourceArn
        ? {
            Condition: {
              ...(p.SourceAccount ? { StringEquals: { 'aws:SourceAccount': p.SourceAccount } } : {}),
              ...(p.SourceArn ? { ArnLike: { 'aws:SourceArn': p.SourceArn } } : {}),
            },
          }
        : {}),
    })),
  };
  const keys = resources(central, 'AWS::KMS::Key');
  const topicPolicy = one('AWS::SNS::TopicPolicy')[1].PolicyDocument;
  const secrets = new Map<string, { arn: string; policy: PolicyDocument }>();
  for (const stack of stacks.filter((s) => s.account === CENTRAL)) {
    const policies = Object.values(resources(stack, 'AWS::SecretsManager::ResourcePolicy'));
    for (const secret of Object.values(resources(stack, 'AWS::SecretsManager::Secret'))) {
      const arn = secretArn(CENTRAL, secret.Name);
      const policy = policies.find((p) => p.SecretId === arn);
      secrets.set(secret.Name, { arn, policy: policy?.ResourcePolicy ?? { Version: '2012-10-17', Statement: [] } });
    }
  }
  const roles = new Map([...rolesOf(central), ...(member ? rolesOf(member) : [])]);
  const queues = resources(central, 'AWS::SQS::QueuePolicy');
  const sweepQueueArn = `arn:${PARTITION}:sqs:${REGION}:${CENTRAL}:SweepDeadLetterQueue`;
  return {
    stacks,
    central,
    member,
    stackName,
    functionArn,
    functionPolicy,
    keyArn: `arn:${PARTITION}:kms:${REGION}:${CENTRAL}:key/key-SecretsKey`,
    keyPolicy: keys.SecretsKey.KeyPolicy,
    alertKeyArn: `arn:${PARTITION}:kms:${REGION}:${CENTRAL}:key/key-AlertTopicKey`,
    alertKeyPolicy: keys.AlertTopicKey.KeyPolicy,
    topicArn: `arn:${PARTITION}:sns:${REGION}:${CENTRAL}:AlertTopic`,
    topicPolicy,
    sweepQueueArn,
    sweepQueuePolicy: Object.values(queues).find((q: any) => q.Queues.includes(`https://sqs.${REGION}.amazonaws.com/${CENTRAL}/SweepDeadLetterQueue`))?.PolicyDocument,
    secrets,
    roles,
  };
}

/** A principal that is a role of the world, with the identity policies its template gives it (none if it is absent). */
export function rolePrincipal(world: World, name: string, arn: string): Principal {
  const account = arn.split(':')[4];
  return { name, arn, account, identityPolicies: world.roles.get(arn)?.identity ?? [] };
}

/** A principal outside the templates, with the identity policies it is assumed to have. */
export function principal(name: string, arn: string, identityPolicies: PolicyDocument[] = []): Principal {
  return { name, arn, account: arn.split(':')[4], identityPolicies };
}

/** An administrator of an account (AdministratorAccess). */
export function administrator(name: string, account: string, roleName = 'Administrator'): Principal {
  return principal(name, `arn:${PARTITION}:iam::${account}:role/${roleName}`, [ADMINISTRATOR]);
}

/** A service principal, such as secretsmanager.amazonaws.com. */
export function service(name: string, host: string): Principal {
  return { name, arn: host, account: '', identityPolicies: [], service: true };
}

/** A call: the authorizations that AWS makes for it, all of which must allow it. */
export interface Call {
  readonly name: string;
  readonly authorizations: (p: Principal) => Authorization[];
}

/** The context that every request of a principal carries. */
function principalContext(p: Principal): Record<string, string> {
  return p.service ? {} : { 'aws:PrincipalArn': p.arn, 'aws:PrincipalAccount': p.account };
}

/** The calls of the matrix, built over a world. */
export function callsOf(world: World) {
  const secret = (name: string) => {
    const found = world.secrets.get(`${world.stackName}/${name}`);
    if (!found) throw new Error(`no secret ${world.stackName}/${name}`);
    return found;
  };
  /** A Secrets Manager request about a secret, with the context that Secrets Manager adds for it. */
  const sm = (action: string, name: string) => (p: Principal): Authorization => ({
    action: `secretsmanager:${action}`,
    resource: secret(name).arn,
    resourceAccount: CENTRAL,
    resourcePolicy: secret(name).policy,
    context: { ...principalContext(p), 'secretsmanager:resource/AllowRotationLambdaArn': world.functionArn },
  });
  /** The KMS request that Secrets Manager makes with the caller's credentials for a secret's version. */
  const kmsVia = (action: 'Decrypt' | 'GenerateDataKey', arn: string, versionId = 'EXAMPLE1-90ab-cdef-fedc-ba987EXAMPLE') => (p: Principal): Authorization => ({
    action: `kms:${action}`,
    resource: world.keyArn,
    resourceAccount: CENTRAL,
    resourcePolicy: world.keyPolicy,
    context: {
      ...principalContext(p),
      'kms:ViaService': `secretsmanager.${REGION}.amazonaws.com`,
      'kms:CallerAccount': p.account,
      'kms:EncryptionContext:SecretARN': arn,
      'kms:EncryptionContext:SecretVersionId': versionId,
    },
  });
  const iam = (action: string, account: string, user: string, extra: Record<string, string | string[]> = {}) => (p: Principal): Authorization => ({
    action: `iam:${action}`,
    resource: `arn:${PARTITION}:iam::${account}:user/rotated/${world.stackName}/${user}`,
    resourceAccount: account,
    context: { ...principalContext(p), ...extra },
  });
  const anywhere = (action: string, account = CENTRAL) => (p: Principal): Authorization => ({
    action,
    resource: '*',
    resourceAccount: account,
    context: principalContext(p),
  });
  const assume = (roleArn: string) => (p: Principal): Authorization => ({
    action: 'sts:AssumeRole',
    resource: roleArn,
    resourceAccount: roleArn.split(':')[4],
    resourcePolicy: world.roles.get(roleArn)?.trust ?? { Version: '2012-10-17', Statement: [] },
    context: {
      ...principalContext(p),
      'aws:ResourceOrgID': ORGANIZATION_ID,
      'aws:ResourceOrgPaths': [`${ORGANIZATION_ID}/${ORGANIZATION_ROOT}/`],
    },
  });
  const on = (action: string, resource: string, resourcePolicy?: PolicyDocument, extra: Record<string, string | string[]> = {}) => (p: Principal): Authorization => ({
    action,
    resource,
    resourceAccount: resource.split(':')[4],
    resourcePolicy,
    context: { ...principalContext(p), ...extra },
  });
  const call = (name: string, ...parts: ((p: Principal) => Authorization)[]): Call => ({ name, authorizations: (p) => parts.map((part) => part(p)) });
  const newSecret = secretArn(CENTRAL, `${world.stackName}/dave`);
  const validate = 'RequestToValidateKeyAccess';
  const memberReader = `arn:${PARTITION}:iam::${MEMBER}:role/IamKeyRotatorReader`;
  const memberRole = `arn:${PARTITION}:iam::${MEMBER}:role/IamKeyRotatorMember`;
  const centralReader = `arn:${PARTITION}:iam::${CENTRAL}:role/IamKeyRotatorReader`;
  return {
    memberReader,
    memberRole,
    centralReader,
    read: (user: string) => call(`GetSecretValue ${user}`, sm('GetSecretValue', user), kmsVia('Decrypt', secret(user).arn)),
    describe: (user: string) => call(`DescribeSecret ${user}`, sm('DescribeSecret', user)),
    listVersions: (user: string) => call(`ListSecretVersionIds ${user}`, sm('ListSecretVersionIds', user)),
    listSecrets: call('ListSecrets', anywhere('secretsmanager:ListSecrets')),
    write: (user: string) => call(`PutSecretValue ${user}`, sm('PutSecretValue', user), kmsVia('GenerateDataKey', secret(user).arn)),
    moveStage: (user: string) => call(`UpdateSecretVersionStage ${user}`, sm('UpdateSecretVersionStage', user)),
    updateValue: (user: string) => call(`UpdateSecret ${user} (a value)`, sm('UpdateSecret', user), kmsVia('GenerateDataKey', secret(user).arn)),
    putPolicy: (user: string) => call(`PutResourcePolicy ${user}`, sm('PutResourcePolicy', user)),
    deletePolicy: (user: string) => call(`DeleteResourcePolicy ${user}`, sm('DeleteResourcePolicy', user)),
    deleteSecret: (user: string) => call(`DeleteSecret ${user}`, sm('DeleteSecret', user)),
    rotate: (user: string) => call(`RotateSecret ${user}`, sm('RotateSecret', user), on('lambda:InvokeFunction', world.functionArn, world.functionPolicy)),
    // CreateSecret with KmsKeyId: Secrets Manager checks access to the key with GenerateDataKey and Decrypt (context
    // SecretVersionId = RequestToValidateKeyAccess), then encrypts the first value with GenerateDataKey.
    createSecret: call(
      'CreateSecret under the key',
      (p) => ({ action: 'secretsmanager:CreateSecret', resource: newSecret, resourceAccount: CENTRAL, context: principalContext(p) }),
      kmsVia('GenerateDataKey', newSecret, validate),
      kmsVia('Decrypt', newSecret, validate),
      kmsVia('GenerateDataKey', newSecret),
    ),
    // A ciphertext of a secret's data key decrypted directly with KMS, not through Secrets Manager.
    decryptDirectly: (user: string) =>
      call(`kms:Decrypt of ${user}'s data key, not through Secrets Manager`, (p) => ({
        action: 'kms:Decrypt',
        resource: world.keyArn,
        resourceAccount: CENTRAL,
        resourcePolicy: world.keyPolicy,
        context: { ...principalContext(p), 'kms:CallerAccount': p.account, 'kms:EncryptionContext:SecretARN': secret(user).arn },
      })),
    iamKeys: (account: string, user: string) => [
      call(`ListAccessKeys ${account}/${user}`, iam('ListAccessKeys', account, user)),
      call(`CreateAccessKey ${account}/${user}`, iam('CreateAccessKey', account, user)),
      call(`UpdateAccessKey ${account}/${user}`, iam('UpdateAccessKey', account, user)),
      call(`DeleteAccessKey ${account}/${user}`, iam('DeleteAccessKey', account, user)),
      call(`ListUserTags ${account}/${user}`, iam('ListUserTags', account, user)),
      call(`GetAccessKeyLastUsed ${account}/${user}`, iam('GetAccessKeyLastUsed', account, user)),
      call(`TagUser ${account}/${user} rotator:intent:*`, iam('TagUser', account, user, { 'aws:TagKeys': ['rotator:intent:abc'] })),
      call(`UntagUser ${account}/${user} rotator:key:*`, iam('UntagUser', account, user, { 'aws:TagKeys': ['rotator:key:AKIAEXAMPLE'] })),
    ],
    iamReads: (account: string, user: string) => [
      call(`ListAccessKeys ${account}/${user}`, iam('ListAccessKeys', account, user)),
      call(`ListUserTags ${account}/${user}`, iam('ListUserTags', account, user)),
      call(`GetAccessKeyLastUsed ${account}/${user}`, iam('GetAccessKeyLastUsed', account, user)),
    ],
    iamWrites: (account: string, user: string) => [
      call(`CreateAccessKey ${account}/${user}`, iam('CreateAccessKey', account, user)),
      call(`UpdateAccessKey ${account}/${user}`, iam('UpdateAccessKey', account, user)),
      call(`DeleteAccessKey ${account}/${user}`, iam('DeleteAccessKey', account, user)),
      call(`TagUser ${account}/${user} rotator:intent:*`, iam('TagUser', account, user, { 'aws:TagKeys': ['rotator:intent:abc'] })),
    ],
    tagOther: (account: string, user: string) => call(`TagUser ${account}/${user} with another tag key`, iam('TagUser', account, user, { 'aws:TagKeys': ['team'] })),
    getUser: (account: string, user: string) => call(`GetUser ${account}/${user}`, iam('GetUser', account, user)),
    credentialReport: (account: string) => [
      call(`GenerateCredentialReport ${account}`, anywhere('iam:GenerateCredentialReport', account)),
      call(`GetCredentialReport ${account}`, anywhere('iam:GetCredentialReport', account)),
    ],
    assumeMemberRole: call('AssumeRole the member role', assume(memberRole)),
    assumeMemberReader: call('AssumeRole the member reader role', assume(memberReader)),
    assumeCentralReader: call('AssumeRole the central reader role', assume(centralReader)),
    publishAlert: call(
      'Publish an alert',
      on('sns:Publish', world.topicArn, world.topicPolicy),
      on('kms:GenerateDataKey', world.alertKeyArn, world.alertKeyPolicy, { 'kms:ViaService': `sns.${REGION}.amazonaws.com` }),
      on('kms:Decrypt', world.alertKeyArn, world.alertKeyPolicy, { 'kms:ViaService': `sns.${REGION}.amazonaws.com` }),
    ),
    sendEmail: call('SendEmail as the sender', on('ses:SendEmail', `arn:${PARTITION}:ses:${REGION}:${CENTRAL}:identity/rotator@example.com`, undefined, { 'ses:FromAddress': 'rotator@example.com' })),
    importFindings: call('BatchImportFindings', on('securityhub:BatchImportFindings', `arn:${PARTITION}:securityhub:${REGION}:${CENTRAL}:product/${CENTRAL}/default`)),
    readFindings: call('GetFindings', on('securityhub:GetFindings', `arn:${PARTITION}:securityhub:${REGION}:${CENTRAL}:hub/default`)),
    writeLogs: call('CreateLogStream and PutLogEvents', on('logs:PutLogEvents', `arn:${PARTITION}:logs:${REGION}:${CENTRAL}:log-group:RotatorLogGroup:log-stream:x`)),
    invoke: call('InvokeFunction (sweep, recover)', on('lambda:InvokeFunction', world.functionArn, world.functionPolicy)),
    // Secrets Manager invokes the rotation function for a secret of this account: aws:SourceAccount and aws:SourceArn.
    invokeForSecret: (account: string, user: string) =>
      call(`InvokeFunction for ${account === CENTRAL ? '' : 'another account\'s '}secret ${user}`, () => ({
        action: 'lambda:InvokeFunction',
        resource: world.functionArn,
        resourceAccount: CENTRAL,
        resourcePolicy: world.functionPolicy,
        context: { 'aws:SourceAccount': account, 'aws:SourceArn': secretArn(account, `${world.stackName}/${user}`) },
      })),
    sendSweepDeadLetter: call('SendMessage to the sweep dead-letter queue', on('sqs:SendMessage', world.sweepQueueArn, world.sweepQueuePolicy, { 'aws:SecureTransport': 'true' })),
    doctorReads: [
      call('GetFunctionConfiguration', on('lambda:GetFunctionConfiguration', world.functionArn, world.functionPolicy)),
      call('ListSubscriptionsByTopic', on('sns:ListSubscriptionsByTopic', world.topicArn, world.topicPolicy)),
      call('GetEmailIdentity', on('ses:GetEmailIdentity', `arn:${PARTITION}:ses:${REGION}:${CENTRAL}:identity/rotator@example.com`)),
      call('GetAccount (SES)', anywhere('ses:GetAccount')),
      call('ListSchedules', anywhere('scheduler:ListSchedules')),
      call('GetSchedule', on('scheduler:GetSchedule', `arn:${PARTITION}:scheduler:${REGION}:${CENTRAL}:schedule/default/${world.stackName}-Sweep`)),
    ],
  };
}
