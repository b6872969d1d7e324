/** Template tests of who may read and write the secrets: the readers of each secret, the writers-only resource policy, and the customer-managed key whose policy admits the writers and leaves reading to Secrets Manager. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { KEY_POLICY_SIDS, READ_ACTIONS, SECRETS_KEY_LOGICAL_ID, SECRET_POLICY_SIDS, WRITE_ACTIONS } from '../lib/secret-access';
import { shardId, shardOf } from '../lib/shards';
import type { RotatorStack } from '../lib/rotator-stack';
import { synthStack } from './support/fixtures';

const READER = 'arn:aws:iam::123456789012:role/consumers/exporter';
const OTHER_READER = 'arn:aws:iam::210987654321:user/batch';
const WRITER = 'arn:aws:iam::123456789012:role/break-glass';
const OPERATOR = 'arn:aws:iam::123456789012:role/security-operators';
const CONFIG = {
  users: [{ name: 'alice', readers: [READER, OTHER_READER] }, { name: 'bob', readers: [READER] }, { name: 'carol' }],
  secretWriterArns: [WRITER],
  operatorPrincipalArns: [OPERATOR],
};

const partition = { Ref: 'AWS::Partition' };
const account = { Ref: 'AWS::AccountId' };
const region = { Ref: 'AWS::Region' };
const join = (...parts: unknown[]) => ({ 'Fn::Join': ['', parts] });

const { stack, template } = synthStack(CONFIG);
const roleArn = { 'Fn::GetAtt': [stack.resolve((stack.rotator.role.node.defaultChild as CfnElement).logicalId), 'Arn'] };

/** The template of the shard that holds a user's secret, and the parent's value of each of its parameters. */
function shardOfUser(s: RotatorStack, name: string): { shard: Template; parameters: Record<string, unknown> } {
  const nested = s.rotator.shards.get(shardOf(name))!;
  const parent = Template.fromStack(s).toJSON().Resources[shardId(shardOf(name))];
  return { shard: Template.fromStack(nested), parameters: parent.Properties.Parameters };
}

/** The one resource of a type in a shard. */
function resourceOf(shard: Template, type: string, name: string): any {
  const found = Object.values(shard.findResources(type)).filter((r: any) =>
    type === 'AWS::SecretsManager::Secret' ? r.Properties.Name === `TestRotator/${name}` : true,
  );
  return found;
}

/** The resource policy of a user's secret, with each Ref to a shard parameter replaced by the parent's value. */
function secretPolicy(s: RotatorStack, name: string): any[] {
  const { shard, parameters } = shardOfUser(s, name);
  const secrets = shard.findResources('AWS::SecretsManager::Secret');
  const secretId = Object.keys(secrets).find((id) => secrets[id].Properties.Name === `TestRotator/${name}`)!;
  const policy = Object.values(shard.findResources('AWS::SecretsManager::ResourcePolicy')).find(
    (p: any) => p.Properties.SecretId.Ref === secretId,
  ) as any;
  const resolve = (value: any): any =>
    value?.Ref !== undefined && value.Ref in parameters
      ? parameters[value.Ref]
      : Array.isArray(value)
        ? value.map(resolve)
        : value && typeof value === 'object'
          ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v)]))
          : value;
  return resolve(policy.Properties.ResourcePolicy.Statement);
}

const keyStatements = (t = template): Record<string, any> =>
  Object.fromEntries(t.findResources('AWS::KMS::Key')[SECRETS_KEY_LOGICAL_ID].Properties.KeyPolicy.Statement.map((s: any) => [s.Sid, s]));

describe('the readers of a secret', () => {
  it('may read that secret (GetSecretValue and DescribeSecret, nothing else) through its resource policy', () => {
    const allow = secretPolicy(stack, 'alice').find((s) => s.Sid === SECRET_POLICY_SIDS.readers);
    assert.deepEqual(allow, {
      Sid: SECRET_POLICY_SIDS.readers,
      Effect: 'Allow',
      Principal: { AWS: [READER, OTHER_READER] },
      Action: [...READ_ACTIONS].sort(),
      Resource: '*',
    });
    assert.deepEqual(READ_ACTIONS, ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret']);
    assert.deepEqual(secretPolicy(stack, 'bob').find((s) => s.Sid === SECRET_POLICY_SIDS.readers).Principal, { AWS: READER });
  });

  it('are absent from the policy of a secret that names none', () => {
    const statements = secretPolicy(stack, 'carol');
    assert.equal(statements.filter((s) => s.Effect === 'Allow').length, 0, JSON.stringify(statements));
  });
});

/** CloudFormation's execution role of the CDK bootstrap, a writer of every secret. */
const cfnRole = { 'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:role/cdk-hnb659fds-cfn-exec-role-${AWS::AccountId}-${AWS::Region}' };

describe('the only writers of the secrets', () => {

  it('are the function\'s role, CloudFormation\'s execution role and the named writers: everyone else is denied the writes', () => {
    for (const name of ['alice', 'carol']) {
      const deny = secretPolicy(stack, name).find((s) => s.Sid === SECRET_POLICY_SIDS.writers);
      assert.deepEqual(deny, {
        Sid: SECRET_POLICY_SIDS.writers,
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: [...WRITE_ACTIONS].sort(),
        Resource: '*',
        Condition: { ArnNotEquals: { 'aws:PrincipalArn': [roleArn, cfnRole, WRITER] } },
      });
    }
    // UpdateSecret writes a value and moves AWSCURRENT; the two policy actions would remove this Deny (issue 26, point 3).
    assert.deepEqual(WRITE_ACTIONS, [
      'secretsmanager:PutSecretValue',
      'secretsmanager:UpdateSecretVersionStage',
      'secretsmanager:UpdateSecret',
      'secretsmanager:PutResourcePolicy',
      'secretsmanager:DeleteResourcePolicy',
    ]);
  });

  it('are the function\'s role and CloudFormation\'s alone without named writers', () => {
    const { stack: s } = synthStack({ users: [{ name: 'alice' }] });
    const deny = secretPolicy(s, 'alice').find((st) => st.Sid === SECRET_POLICY_SIDS.writers);
    const role = { 'Fn::GetAtt': [s.resolve((s.rotator.role.node.defaultChild as CfnElement).logicalId), 'Arn'] };
    assert.deepEqual(deny.Condition, { ArnNotEquals: { 'aws:PrincipalArn': [role, cfnRole] } });
  });
});

describe('the secrets\' customer-managed key', () => {
  it('encrypts every secret, and outlives the stack', () => {
    for (const name of ['alice', 'bob', 'carol']) {
      const { shard, parameters } = shardOfUser(stack, name);
      const [secret] = resourceOf(shard, 'AWS::SecretsManager::Secret', name);
      assert.deepEqual(parameters[secret.Properties.KmsKeyId.Ref], { 'Fn::GetAtt': [SECRETS_KEY_LOGICAL_ID, 'Arn'] }, name);
    }
    const key = template.findResources('AWS::KMS::Key')[SECRETS_KEY_LOGICAL_ID];
    assert.equal(key.Properties.EnableKeyRotation, true);
    // Point 5: every version of every secret stays encrypted under it.
    assert.equal(key.DeletionPolicy, 'Retain');
    assert.equal(key.UpdateReplacePolicy, 'Retain');
  });

  it('names no role or user as a principal: only the account, and anyone through Secrets Manager', () => {
    const root = join('arn:', partition, ':iam::', account, ':root');
    const principals = Object.values(keyStatements()).map((s) => JSON.stringify(s.Principal));
    assert.deepEqual(new Set(principals), new Set([JSON.stringify({ AWS: root }), JSON.stringify({ AWS: '*' })]));
  });

  it('lets the account administer it, and the writers (by aws:PrincipalArn) encrypt and check their access through Secrets Manager', () => {
    const statements = keyStatements();
    for (const action of [statements[KEY_POLICY_SIDS.admin].Action].flat()) {
      assert.ok(!/^kms:(Decrypt|ReEncrypt|CreateGrant|Encrypt|GenerateDataKey)/.test(action) && !action.includes('*'), action);
    }
    const writers = statements[KEY_POLICY_SIDS.writers];
    // Point 1: CreateSecret under the key calls GenerateDataKey and Decrypt with the caller's credentials.
    assert.deepEqual(writers.Action, ['kms:Decrypt', 'kms:GenerateDataKey']);
    assert.deepEqual(writers.Condition.StringEquals, {
      'kms:ViaService': join('secretsmanager.', region, '.amazonaws.com'),
      'kms:CallerAccount': account,
    });
    // Point 4: the account, narrowed to the writers by aws:PrincipalArn.
    assert.deepEqual(writers.Condition.ArnEquals, { 'aws:PrincipalArn': [roleArn, cfnRole, WRITER] });
    assert.deepEqual(writers.Condition.StringLike, {
      'kms:EncryptionContext:SecretARN': { 'Fn::Sub': 'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:TestRotator/*' },
    });
  });

  it('lets Secrets Manager decrypt for whomever it admits to read, from this account and the readers\' accounts', () => {
    const readers = keyStatements()[KEY_POLICY_SIDS.readers];
    assert.equal(readers.Action, 'kms:Decrypt');
    assert.deepEqual(readers.Principal, { AWS: '*' });
    // Point 9: the accounts that hold readers, not the readers (READER is of 123456789012, OTHER_READER of 210987654321;
    // the stack's own account is not known at synthesis here, so 123456789012 is listed too).
    assert.deepEqual(readers.Condition.StringEquals, {
      'kms:ViaService': join('secretsmanager.', region, '.amazonaws.com'),
      'kms:CallerAccount': [account, '123456789012', '210987654321'],
    });
    assert.ok(readers.Condition.StringLike['kms:EncryptionContext:SecretARN']);
    assert.equal(JSON.stringify(keyStatements()).includes(READER), false, 'no reader is named');
  });

  it('is left out with customerManagedKey false: the secrets use aws/secretsmanager, and keep their readers', () => {
    const { stack: s, template: t } = synthStack({ ...CONFIG, customerManagedKey: false });
    assert.equal(t.findResources('AWS::KMS::Key')[SECRETS_KEY_LOGICAL_ID], undefined);
    const [secret] = resourceOf(shardOfUser(s, 'alice').shard, 'AWS::SecretsManager::Secret', 'alice');
    assert.equal(secret.Properties.KmsKeyId, undefined);
    assert.ok(secretPolicy(s, 'alice').some((st) => st.Sid === SECRET_POLICY_SIDS.readers));
  });

  it('stays the same size however many readers the secrets have', () => {
    const many = Array.from({ length: 400 }, (_, i) => ({ name: `user-${String(i).padStart(3, '0')}`.padEnd(60, 'x'), readers: [READER] }));
    const size = (users: object[]) => JSON.stringify(synthStack({ users }).template.findResources('AWS::KMS::Key')[SECRETS_KEY_LOGICAL_ID].Properties.KeyPolicy).length;
    assert.equal(size(many), size(many.slice(0, 1)));
  });
});
