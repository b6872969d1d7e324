/** Scale tests: a generated 5,000-user deployment synthesizes (under cdk-nag) within every CloudFormation, IAM and EventBridge quota, and adding a user moves no other user's secret. */
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { MAX_MEMBER_ACCOUNTS } from '../lib/config';
import { RESOURCES_PER_USER, SHARD_COUNT, shardId, shardOf, userKey } from '../lib/shards';
import { secretLogicalId, sweepTimeoutSeconds } from '../lib/rotator';
import { SCALE_USERS, scaleConfig, scaleReader, scaleUsers } from '../scripts/scale-config';
import { synthStack, testApp } from './support/fixtures';
import { decide, deploy } from './support/access-world';
import { callsOf, principal, worldOf } from './support/access-calls';

/** CloudFormation's quotas per stack (nested stacks included) and per template uploaded through S3. */
const QUOTAS = { resources: 500, templateBytes: 1_000_000, parameters: 200, outputs: 200 };
/** IAM's quota for the inline policies of one role, and the other policy quotas that apply. */
const POLICY_QUOTAS = {
  roleInline: 10_240,
  keyPolicy: 32_768,
  topicPolicy: 30_720,
  queuePolicy: 20_480,
  eventPattern: 4_096,
  // Secrets Manager User Guide, "Quotas": a resource-based policy of up to 20,480 characters.
  secretPolicy: 20_480,
};
/** The longest stack name that CloudFormation allows, so that the names in the templates are as long as they get. */
const STACK_NAME = `R${'x'.repeat(127)}`;

// The 5,000-user synthesis runs once for the whole file, through cdk-nag and into a cloud assembly on disk,
// as `cdk synth` does; every test below reads its results.
const started = Date.now();
// The CDK CLI records each nested stack's template file in its metadata; so does this app.
const ASSET_METADATA = { context: { 'aws:cdk:enable-asset-metadata': true } };
const app = testApp(ASSET_METADATA);
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
synthStack(scaleConfig(SCALE_USERS), app, STACK_NAME);
const assembly = app.synth();
const synthMs = Date.now() - started;
const artifact = assembly.getStackByName(STACK_NAME);
const parentFile = path.join(assembly.directory, artifact.templateFile);
const parent = JSON.parse(readFileSync(parentFile, 'utf8'));
const nestedFiles = Object.values(parent.Resources)
  .filter((r: any) => r.Type === 'AWS::CloudFormation::Stack')
  .map((r: any) => path.join(assembly.directory, r.Metadata['aws:asset:path']));
const templates = [parentFile, ...nestedFiles].map((file) => ({
  file: path.basename(file),
  bytes: statSync(file).size,
  json: JSON.parse(readFileSync(file, 'utf8')),
}));

/** Replaces every intrinsic with the longest value it can take, so that sizes are measured at their worst. */
function worstCase(value: any): any {
  if (Array.isArray(value)) return value.map(worstCase);
  if (value === null || typeof value !== 'object') return value;
  if ('Ref' in value) {
    const pseudo: Record<string, string> = { 'AWS::Partition': 'aws-iso-b', 'AWS::AccountId': '123456789012', 'AWS::Region': 'ap-southeast-5' };
    return pseudo[value.Ref] ?? `arn:aws-iso-b:sns:ap-southeast-5:123456789012:${'X'.repeat(256)}`;
  }
  if ('Fn::GetAtt' in value) return `arn:aws-iso-b:lambda:ap-southeast-5:123456789012:function:${'X'.repeat(64)}`;
  if ('Fn::Join' in value) return worstCase(value['Fn::Join'][1]).join(value['Fn::Join'][0]);
  if ('Fn::Sub' in value && typeof value['Fn::Sub'] === 'string') {
    return value['Fn::Sub'].replace(/\$\{([^}]+)\}/g, (_: string, name: string) => worstCase({ Ref: name }));
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, worstCase(v)]));
}

/** The size in characters of a policy document once its intrinsics are resolved, without whitespace (as IAM counts). */
const policySize = (document: unknown) => JSON.stringify(worstCase(document)).length;

/** The function's policy document in a parent template. */
const rolePolicy = (t: any) => Object.values(t.Resources).find((r: any) => r.Type === 'AWS::IAM::Policy') as any;

describe(`a deployment of ${SCALE_USERS} users`, () => {
  it('synthesizes under cdk-nag without findings', (t) => {
    t.diagnostic(`synthesized in ${synthMs} ms`);
    const report = new AwsSolutionsChecks().validateScope(app);
    assert.deepEqual(report.violations, []);
  });

  it('gives the function a timeout that fits the sweep of every secret: 280 s for 5,000', () => {
    const functions = Object.values(parent.Resources).filter((r: any) => r.Type === 'AWS::Lambda::Function') as any[];
    assert.equal(functions.length, 1);
    assert.equal(functions[0].Properties.Timeout, sweepTimeoutSeconds(SCALE_USERS));
    assert.equal(sweepTimeoutSeconds(5000), 280);
  });

  it('keeps every stack well under 500 resources, 200 parameters and 200 outputs', (t) => {
    assert.equal(templates.length, 1 + SHARD_COUNT, 'every shard is populated');
    const counts = templates.map(({ json }) => Object.keys(json.Resources).length);
    t.diagnostic(`resources: parent ${counts[0]}, shards ${Math.min(...counts.slice(1))} to ${Math.max(...counts.slice(1))}`);
    for (const [i, { file, json }] of templates.entries()) {
      assert.ok(counts[i] <= 450, `${file} has ${counts[i]} resources`);
      assert.ok(Object.keys(json.Parameters ?? {}).length < QUOTAS.parameters, file);
      assert.ok(Object.keys(json.Outputs ?? {}).length < QUOTAS.outputs, file);
    }
    assert.ok(counts[0] < 150, `the parent holds ${counts[0]} resources`);
    assert.equal(counts.slice(1).reduce((a, b) => a + b, 0), SCALE_USERS * RESOURCES_PER_USER);
  });

  it('keeps every template under a third of the 1 MB that CloudFormation accepts from S3', (t) => {
    // Each secret's policy names its readers, the five actions denied to all but the writers, and the writers.
    const sizes = templates.map(({ bytes }) => bytes);
    t.diagnostic(`template bytes: parent ${sizes[0]}, largest shard ${Math.max(...sizes.slice(1))}`);
    for (const { file, bytes } of templates) assert.ok(bytes < QUOTAS.templateBytes / 3, `${file} is ${bytes} bytes`);
  });

  it('gives the role a policy of constant size, far under IAM\'s 10,240 characters', (t) => {
    const size = policySize(rolePolicy(parent).Properties.PolicyDocument);
    const small = synthStack({ ...scaleConfig(SCALE_USERS), users: scaleUsers(2) }, testApp(), STACK_NAME).template.toJSON();
    t.diagnostic(`role policy: ${size} characters at worst`);
    assert.equal(size, policySize(rolePolicy(small).Properties.PolicyDocument), 'the same for 2 users and for 5,000');
    assert.ok(size < POLICY_QUOTAS.roleInline / 2, `policy of ${size} characters`);
    // The role has no other policy.
    assert.equal(Object.values(parent.Resources).filter((r: any) => r.Type.startsWith('AWS::IAM::') && r.Type.endsWith('Policy')).length, 1);
  });

  it(`keeps the role's policy within IAM's quota with ${MAX_MEMBER_ACCOUNTS} named member accounts and the longest role name`, (t) => {
    const users = Array.from({ length: MAX_MEMBER_ACCOUNTS }, (_, i) => ({ name: 'svc', account: String(100_000_000_000 + i) }));
    const config = { ...scaleConfig(2), organization: undefined, users, memberRoleName: 'M'.repeat(64) };
    const size = policySize(rolePolicy(synthStack(config, testApp(), STACK_NAME).template.toJSON()).Properties.PolicyDocument);
    t.diagnostic(`role policy with ${MAX_MEMBER_ACCOUNTS} member roles: ${size} characters at worst`);
    assert.ok(size < POLICY_QUOTAS.roleInline, `policy of ${size} characters`);
  });

  it('keeps the key, topic and queue policies and the event pattern within their quotas', (t) => {
    const ofType = (type: string) => Object.values(parent.Resources).filter((r: any) => r.Type === type) as any[];
    // The alert key, and the secrets' key with every reader's statement.
    const keys = ofType('AWS::KMS::Key').map((k) => policySize(k.Properties.KeyPolicy));
    assert.equal(keys.length, 2);
    const key = Math.max(...keys);
    const topic = policySize(ofType('AWS::SNS::TopicPolicy')[0].Properties.PolicyDocument);
    const queue = policySize(ofType('AWS::SQS::QueuePolicy')[0].Properties.PolicyDocument);
    const pattern = JSON.stringify(worstCase(ofType('AWS::Events::Rule')[0].Properties.EventPattern)).length;
    t.diagnostic(`key policy ${key}, topic policy ${topic}, queue policy ${queue}, event pattern ${pattern} characters`);
    assert.ok(key < POLICY_QUOTAS.keyPolicy);
    assert.ok(topic < POLICY_QUOTAS.topicPolicy);
    assert.ok(queue < POLICY_QUOTAS.queuePolicy);
    assert.ok(pattern < POLICY_QUOTAS.eventPattern);
  });

  it('keeps the secrets key\'s policy independent of the readers and each secret\'s policy within 20,480 characters', (t) => {
    const users = scaleUsers(SCALE_USERS);
    assert.ok(users.every((user) => (user.readers ?? []).length > 0), 'every user has a reader');
    const keyPolicy = (t2: any) => (Object.entries(t2.Resources).find(([id]) => id === 'SecretsKey')![1] as any).Properties.KeyPolicy;
    const small = synthStack({ ...scaleConfig(SCALE_USERS), users: users.slice(0, 2) }, testApp(), STACK_NAME).template.toJSON();
    const size = policySize(keyPolicy(parent));
    t.diagnostic(`secrets key policy: ${size} characters for ${SCALE_USERS} readers, ${policySize(keyPolicy(small))} for 2`);
    // It grows with the readers' accounts (kms:CallerAccount), not with the readers.
    assert.ok(size < POLICY_QUOTAS.keyPolicy / 4, `${size}`);
    let largest = 0;
    for (const template of shardTemplatesOf(parent, assembly.directory).values()) {
      for (const resource of Object.values(template.Resources) as any[]) {
        if (resource.Type === 'AWS::SecretsManager::ResourcePolicy') largest = Math.max(largest, policySize(resource.Properties.ResourcePolicy));
      }
    }
    t.diagnostic(`largest secret policy: ${largest} characters`);
    assert.ok(largest < POLICY_QUOTAS.secretPolicy / 4, `${largest}`);
  });

  it('lets each reader read its own secret and denies it every other user\'s (the access matrix at scale)', async () => {
    const world = worldOf(deploy(assembly.directory), STACK_NAME);
    const calls = callsOf(world);
    const users = scaleUsers(SCALE_USERS);
    // Readers of the central account and of reader accounts, against users of both kinds, in other shards.
    for (const [i, j] of [[1, 2], [5, 4_444], [3, 15], [4_995, 6]]) {
      // A reader of the central account needs no policy of its own; one of another account needs an identity policy for
      // the read and the key (README, readers), here as broad as it can be: the secret's policy still decides.
      const crossAccount = !scaleReader(i).includes(':123456789012:');
      const reader = principal(
        `reader of ${userKey(users[i])}`,
        scaleReader(i),
        crossAccount
          ? [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'kms:Decrypt'], Resource: '*' }] }]
          : [],
      );
      const verdict = async (user: number) => {
        const results = [];
        for (const a of calls.read(userKey(users[user])).authorizations(reader)) results.push((await decide(reader, a)).allowed);
        return results.every(Boolean);
      };
      assert.equal(await verdict(i), true, `${reader.name} reads it`);
      assert.equal(await verdict(j), false, `${reader.name} is denied ${userKey(users[j])}`);
    }
  });

  it('puts each user\'s secret, named after its account and user, in the shard of that key', () => {
    const byShard = shardTemplatesOf(parent, assembly.directory);
    const users = scaleUsers(SCALE_USERS);
    for (const user of users) {
      const key = userKey(user);
      const secret = byShard.get(shardId(shardOf(key)))?.Resources[secretLogicalId(key)];
      assert.equal(secret?.Properties.Name, `${STACK_NAME}/${key}`, key);
      assert.deepEqual(JSON.parse(secret.Properties.SecretString), { UserName: user.name, ...(user.account ? { AccountId: user.account } : {}) });
    }
    // Users of the same name in the central and a member account have secrets of their own.
    const namesakes = users.filter((user) => user.account && users.some((other) => !other.account && other.name === user.name));
    assert.ok(namesakes.length >= 10, `${namesakes.length} namesakes`);
    assert.equal(new Set(users.map(userKey)).size, SCALE_USERS);
  });

  it('rolls the member role out to the organization with a StackSet within CloudFormation\'s TemplateBody quota', (t) => {
    assert.equal(Object.values(parent.Resources).filter((r: any) => r.Type === 'AWS::CloudFormation::StackSet').length, 0);
    const memberRoles = assembly.stacks.find((s) => s.stackName !== STACK_NAME)!;
    assert.ok(memberRoles.stackName.length <= 128, memberRoles.stackName);
    const stackSets = Object.values(memberRoles.template.Resources).filter((r: any) => r.Type === 'AWS::CloudFormation::StackSet') as any[];
    assert.equal(stackSets.length, 1);
    const bytes = stackSets[0].Properties.TemplateBody.length;
    t.diagnostic(`member template ${bytes} bytes`);
    assert.ok(bytes < 51_200 / 4);
    // The organization's grant stays one statement however many member accounts the users name.
    const statements = rolePolicy(parent).Properties.PolicyDocument.Statement.filter((s: any) => s.Action === 'sts:AssumeRole');
    assert.deepEqual(statements.map((s: any) => s.Sid), ['AssumeMemberRolesInOrganization']);
  });

  it('moves, changes or replaces no existing secret when a user is added', () => {
    const added = 'newcomer-0001';
    const config = scaleConfig(SCALE_USERS);
    const afterApp = testApp(ASSET_METADATA);
    synthStack({ ...config, users: [...(config.users as object[]), { name: added }] }, afterApp, STACK_NAME);
    const afterAssembly = afterApp.synth();
    const afterParent = JSON.parse(
      readFileSync(path.join(afterAssembly.directory, afterAssembly.getStackByName(STACK_NAME).templateFile), 'utf8'),
    );
    const before = shardTemplatesOf(parent, assembly.directory);
    const after = shardTemplatesOf(afterParent, afterAssembly.directory);
    // The same nested stacks, under the same logical ids.
    assert.deepEqual([...after.keys()], [...before.keys()]);
    const home = shardId(shardOf(added));
    for (const [shard, template] of before) {
      const changed = after.get(shard)!;
      if (shard !== home) {
        assert.deepEqual(changed, template, `${shard} is unchanged`);
        continue;
      }
      // In the new user's shard every existing resource keeps its logical id and its properties; at most one
      // schedule waits for another predecessor in the creation chain, which replaces and updates nothing.
      const added3 = Object.keys(changed.Resources).filter((id) => !(id in template.Resources));
      assert.equal(added3.length, RESOURCES_PER_USER);
      assert.ok(added3.includes(secretLogicalId(added)));
      let relinked = 0;
      for (const [id, resource] of Object.entries(template.Resources) as [string, any][]) {
        const now = changed.Resources[id];
        assert.ok(now, `${id} kept`);
        assert.deepEqual(now.Properties, resource.Properties, `${id} unchanged`);
        assert.equal(now.Type, resource.Type);
        if (JSON.stringify(now.DependsOn) !== JSON.stringify(resource.DependsOn)) relinked++;
      }
      assert.ok(relinked <= 1, `${relinked} schedules relinked`);
    }
  });
});

/** The templates of a parent's nested stacks, by their logical ids in the parent. */
function shardTemplatesOf(parentTemplate: any, dir: string): Map<string, any> {
  return new Map(
    Object.entries(parentTemplate.Resources)
      .filter(([, r]: [string, any]) => r.Type === 'AWS::CloudFormation::Stack')
      .map(([id, r]: [string, any]) => [id, JSON.parse(readFileSync(path.join(dir, r.Metadata['aws:asset:path']), 'utf8'))]),
  );
}
