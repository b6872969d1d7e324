/** Template tests of who may read and write the secrets: the readers of each secret, the writer-only resource policy, and the customer-managed key whose policy lets only the rotator, the operators and the readers decrypt. */
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

describe('the only writer of the secrets', () => {
  it('is the function\'s role (and the named writers): everyone else is denied PutSecretValue and UpdateSecretVersionStage', () => {
    for (const name of ['alice', 'carol']) {
      const deny = secretPolicy(stack, name).find((s) => s.Sid === SECRET_POLICY_SIDS.writers);
      assert.deepEqual(deny, {
        Sid: SECRET_POLICY_SIDS.writers,
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: [...WRITE_ACTIONS].sort(),
        Resource: '*',
        Condition: { ArnNotEquals: { 'aws:PrincipalArn': [roleArn, WRITER] } },
      });
    }
    assert.deepEqual(WRITE_ACTIONS, ['secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage']);
  });

  it('is the function\'s role alone without named writers', () => {
    const { stack: s } = synthStack({ users: [{ name: 'alice' }] });
    const deny = secretPolicy(s, 'alice').find((st) => st.Sid === SECRET_POLICY_SIDS.writers);
    const role = { 'Fn::GetAtt': [s.resolve((s.rotator.role.node.defaultChild as CfnElement).logicalId), 'Arn'] };
    assert.deepEqual(deny.Condition, { ArnNotEquals: { 'aws:PrincipalArn': [role] } });
  });
});

describe('the secrets\' customer-managed key', () => {
  it('encrypts every secret', () => {
    for (const name of ['alice', 'bob', 'carol']) {
      const { shard, parameters } = shardOfUser(stack, name);
      const [secret] = resourceOf(shard, 'AWS::SecretsManager::Secret', name);
      assert.deepEqual(parameters[secret.Properties.KmsKeyId.Ref], { 'Fn::GetAtt': [SECRETS_KEY_LOGICAL_ID, 'Arn'] }, name);
    }
    const key = template.findResources('AWS::KMS::Key')[SECRETS_KEY_LOGICAL_ID];
    assert.equal(key.Properties.EnableKeyRotation, true);
  });

  it('lets the account administer it, and encrypt through Secrets Manager, but never decrypt', () => {
    const statements = Object.values(keyStatements());
    const root = join('arn:', partition, ':iam::', account, ':root');
    for (const statement of statements.filter((s) => JSON.stringify(s.Principal) === JSON.stringify({ AWS: root }))) {
      const actions = [statement.Action].flat();
      for (const action of actions) {
        assert.ok(!/^kms:(Decrypt|ReEncrypt|CreateGrant|Encrypt|\*)/.test(action) && !action.includes('*'), `${statement.Sid}: ${action}`);
      }
    }
    const encrypt = keyStatements()[KEY_POLICY_SIDS.encrypt];
    assert.deepEqual(encrypt.Action, 'kms:GenerateDataKey');
    assert.deepEqual(encrypt.Condition.StringEquals, {
      'kms:ViaService': join('secretsmanager.', region, '.amazonaws.com'),
      'kms:CallerAccount': account,
    });
  });

  it('lets only the function\'s role, the operators and the readers decrypt, each only through Secrets Manager', () => {
    const decrypting = Object.values(keyStatements()).filter((s) => [s.Action].flat().includes('kms:Decrypt'));
    const principals = decrypting.flatMap((s) => [s.Principal.AWS].flat()).map((p) => JSON.stringify(p));
    assert.deepEqual(new Set(principals), new Set([roleArn, OPERATOR, READER, OTHER_READER].map((p) => JSON.stringify(p))));
    for (const statement of decrypting) {
      assert.equal(statement.Effect, 'Allow');
      assert.deepEqual(statement.Condition.StringEquals['kms:ViaService'], join('secretsmanager.', region, '.amazonaws.com'), statement.Sid);
      assert.ok(statement.Condition.StringLike['kms:EncryptionContext:SecretARN'], statement.Sid);
    }
    const rotator = keyStatements()[KEY_POLICY_SIDS.rotator];
    assert.deepEqual(rotator.Action, ['kms:Decrypt', 'kms:GenerateDataKey']);
    assert.deepEqual(
      rotator.Condition.StringLike['kms:EncryptionContext:SecretARN'],
      { 'Fn::Sub': 'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:TestRotator/*' },
    );
  });

  it('lets a reader decrypt exactly the secrets it is named for (SecretARN encryption context)', () => {
    const secretArn = (name: string) => ({
      'Fn::Sub': `arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:TestRotator/${name}-??????`,
    });
    const readerStatements = Object.values(keyStatements()).filter((s) => s.Sid.startsWith(KEY_POLICY_SIDS.reader));
    const byReader = Object.fromEntries(
      readerStatements.map((s) => [s.Principal.AWS, [s.Condition.StringLike['kms:EncryptionContext:SecretARN']].flat()]),
    );
    assert.deepEqual(byReader, { [READER]: [secretArn('alice'), secretArn('bob')], [OTHER_READER]: [secretArn('alice')] });
    for (const statement of readerStatements) assert.equal(statement.Action, 'kms:Decrypt');
  });

  it('is left out with customerManagedKey false: the secrets use aws/secretsmanager, and keep their readers', () => {
    const { stack: s, template: t } = synthStack({ ...CONFIG, customerManagedKey: false });
    assert.equal(t.findResources('AWS::KMS::Key')[SECRETS_KEY_LOGICAL_ID], undefined);
    const [secret] = resourceOf(shardOfUser(s, 'alice').shard, 'AWS::SecretsManager::Secret', 'alice');
    assert.equal(secret.Properties.KmsKeyId, undefined);
    assert.ok(secretPolicy(s, 'alice').some((st) => st.Sid === SECRET_POLICY_SIDS.readers));
  });

  it('refuses readers that would take its policy past KMS\'s 32 KB, with a message that says so', () => {
    const users = Array.from({ length: 400 }, (_, i) => ({
      name: `user-${String(i).padStart(3, '0')}`.padEnd(60, 'x'),
      readers: [READER],
    }));
    assert.throws(() => synthStack({ users }), /past KMS's 32768: give fewer readers/);
  });
});
