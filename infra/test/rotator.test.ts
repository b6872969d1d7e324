/** Fine-grained template tests of the Rotator: every resource, every IAM statement with its resources and conditions, and stable logical ids. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CfnElement } from 'aws-cdk-lib';
import type { Alarm as cloudwatchAlarm } from 'aws-cdk-lib/aws-cloudwatch';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { IAM_KEY_ACTIONS, IAM_TAG_ACTIONS, IAM_USER_ACTIONS, LOGICAL_IDS, OUTPUT_NAMES, SECRET_ACTIONS, secretLogicalId } from '../lib/rotator';
import { STACK_SET_OUTPUTS } from '../lib/member-roles-stack';
import type { RotatorStack } from '../lib/rotator-stack';
import { shardId, shardOf } from '../lib/shards';
import { BASE_CONFIG, synthStack } from './support/fixtures';

const partition = { Ref: 'AWS::Partition' };
const account = { Ref: 'AWS::AccountId' };
const region = { Ref: 'AWS::Region' };
const join = (...parts: unknown[]) => ({ 'Fn::Join': ['', parts] });

const base = synthStack();
const { stack, template } = base;
const rotator = stack.rotator;
const logicalId = (construct: { node: { defaultChild?: unknown } }): string =>
  stack.resolve((construct.node.defaultChild as CfnElement).logicalId);
const FUNCTION_ID = logicalId(rotator.function);
const FUNCTION_ARN = { 'Fn::GetAtt': [FUNCTION_ID, 'Arn'] };
const TOPIC = { Ref: LOGICAL_IDS.alertTopic };
const ALICE = secretLogicalId('alice');
/** Every alarm of a stack, by the suffix of its name, in the order of the key policy. */
const ALARM_SUFFIXES = [
  'FunctionErrors',
  'AlertDeliveryFailures',
  'UndeliveredAlerts',
  'RotationStepFailed',
  'StuckRotations',
  'OverdueRotations',
  'OldKeysInUse',
  'SweepErrors',
  'MissedSweeps',
];
const BOB = secretLogicalId('bob');

/** The template of each secret shard of a stack, by the shard's logical id in the parent. */
function shardTemplates(s: RotatorStack): Map<string, Template> {
  return new Map([...s.rotator.shards].map(([shard, nested]) => [shardId(shard), Template.fromStack(nested)]));
}

/** The resources of a type in every shard of a stack, by logical id. */
function shardResources(s: RotatorStack, type: string): Record<string, any> {
  return Object.assign({}, ...[...shardTemplates(s).values()].map((t) => t.findResources(type)));
}

const SHARDS = shardTemplates(stack);
/** The template of the shard that holds a user's secret. */
const shardOfUser = (name: string) => SHARDS.get(shardId(shardOf(name)))!;

/** The only resource of a type, with its logical id. */
function only(t: Template, type: string): { id: string; resource: any } {
  const found = Object.entries(t.findResources(type));
  assert.equal(found.length, 1, `expected one ${type}, found ${found.length}`);
  return { id: found[0][0], resource: found[0][1] };
}

/** The statements of the function's policy, by Sid. */
function statementsOf(t: Template): Record<string, any> {
  const { resource } = only(t, 'AWS::IAM::Policy');
  return Object.fromEntries(resource.Properties.PolicyDocument.Statement.map((s: any) => [s.Sid, s]));
}

describe('the Lambda function', () => {
  it('runs the bootstrap of the zip on provided.al2023, arm64, 128 MB, test timeout plus 60 s', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'provided.al2023',
      Handler: 'bootstrap',
      Architectures: ['arm64'],
      MemorySize: 128,
      Timeout: 120,
      Role: { 'Fn::GetAtt': [logicalId(rotator.role), 'Arn'] },
      LoggingConfig: { LogGroup: { Ref: LOGICAL_IDS.logGroup } },
      Code: { S3Key: Match.stringLikeRegexp('^[0-9a-f]{64}\\.zip$') },
    });
    const { resource } = only(template, 'AWS::Lambda::Function');
    assert.equal(resource.Properties.ReservedConcurrentExecutions, undefined);
  });

  it('gets exactly the environment of the contract', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectEquals({
          ROTATOR_ALERT_TOPIC_ARN: TOPIC,
          ROTATOR_SENDER_EMAIL: 'rotator@example.com',
          ROTATOR_DEFAULT_NOTIFY_EMAIL: 'security@example.com',
          ROTATOR_OLD_KEY: 'grace',
          ROTATOR_GRACE: '24h',
          ROTATOR_GRACE_MAX: '7d',
          ROTATOR_USAGE_LAG: '4h',
          ROTATOR_TEST_TIMEOUT_SECS: '60',
          ROTATOR_SECRET_PREFIX: 'TestRotator/',
          // Contract §4: stuckAfter (§11) and securityHubFindings (§12), by default 24h and on.
          ROTATOR_STUCK_AFTER: '24h',
          ROTATOR_FINDINGS: 'on',
        }),
      },
    });
  });

  it('sets ROTATOR_STUCK_AFTER and ROTATOR_FINDINGS from stuckAfter and securityHubFindings', () => {
    const { template: t } = synthStack({ ...BASE_CONFIG, stuckAfter: '0s', securityHubFindings: false });
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ ROTATOR_STUCK_AFTER: '0s', ROTATOR_FINDINGS: 'off' }) },
    });
    // Off, the role may not import findings.
    assert.equal(statementsOf(t).ImportFindings, undefined);
    assert.equal(statementsOf(t).ReadOwnFindings, undefined);
  });

  it('lets the recoverPrincipalArns invoke it (rotator recover), each through a permission of its own', () => {
    const onCall = 'arn:aws:iam::123456789012:role/on-call';
    const { template: t } = synthStack({ ...BASE_CONFIG, recoverPrincipalArns: [onCall] });
    const permissions = Object.values(t.findResources('AWS::Lambda::Permission')).map((r: any) => r.Properties);
    assert.deepEqual(
      permissions.filter((p: any) => p.Principal === onCall),
      [{ Action: 'lambda:InvokeFunction', FunctionName: FUNCTION_ARN, Principal: onCall }],
    );
  });

  it('follows the architecture, timeout, old-key policy and concurrency options', () => {
    const { template: t } = synthStack({
      users: [{ name: 'alice' }],
      architecture: 'x86_64',
      testTimeoutSecs: 300,
      oldKeyPolicy: 'deactivate',
      reservedConcurrency: 3,
      defaultNotifyEmails: ['a@example.com', 'b@example.com'],
    });
    t.hasResourceProperties('AWS::Lambda::Function', {
      Architectures: ['x86_64'],
      Timeout: 360,
      ReservedConcurrentExecutions: 3,
      Environment: {
        Variables: Match.objectEquals({
          ROTATOR_ALERT_TOPIC_ARN: TOPIC,
          ROTATOR_DEFAULT_NOTIFY_EMAIL: 'a@example.com,b@example.com',
          ROTATOR_OLD_KEY: 'deactivate',
          ROTATOR_TEST_TIMEOUT_SECS: '300',
          ROTATOR_SECRET_PREFIX: 'TestRotator/',
          ROTATOR_STUCK_AFTER: '24h',
          ROTATOR_FINDINGS: 'on',
        }),
      },
    });
  });

  it('writes to its own log group, kept one year and retained', () => {
    template.hasResource('AWS::Logs::LogGroup', {
      Properties: Match.objectEquals({ RetentionInDays: 365 }),
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
    const { template: t } = synthStack({ ...BASE_CONFIG, logRetentionDays: 30 });
    t.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('can be invoked by Secrets Manager of this account only, through one permission', () => {
    const { resource } = only(template, 'AWS::Lambda::Permission');
    assert.deepEqual(resource.Properties, {
      Action: 'lambda:InvokeFunction',
      FunctionName: FUNCTION_ARN,
      Principal: 'secretsmanager.amazonaws.com',
      SourceAccount: account,
    });
  });
});

describe('the execution role', () => {
  it('is assumable by Lambda only and carries no managed or inline policy of its own', () => {
    const resource = template.findResources('AWS::IAM::Role')[logicalId(rotator.role)];
    assert.deepEqual(resource.Properties.AssumeRolePolicyDocument, {
      Version: '2012-10-17',
      Statement: [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } }],
    });
    assert.equal(resource.Properties.ManagedPolicyArns, undefined);
    assert.equal(resource.Properties.Policies, undefined);
  });

  it('gets its permissions from exactly one policy, attached to it', () => {
    const { resource } = only(template, 'AWS::IAM::Policy');
    assert.deepEqual(resource.Properties.Roles, [{ Ref: logicalId(rotator.role) }]);
    assert.deepEqual(
      Object.keys(statementsOf(template)).sort(),
      [
        'EncryptAlerts',
        'ImportFindings',
        'ListSecretsForTheSweep',
        'ManageAccessKeysOfManagedUsers',
        'PublishAlerts',
        'ReadOwnFindings',
        'RotateManagedSecrets',
        'SendSuccessEmailsAsSender',
        'TagManagedUsersWithRotatorKeysOnly',
        'UseTheSecretsKeyThroughSecretsManager',
        'WriteOwnLogs',
      ],
    );
  });

  it('imports Security Hub findings into the account\'s default product only', () => {
    assert.deepEqual(statementsOf(template).ImportFindings, {
      Sid: 'ImportFindings',
      Effect: 'Allow',
      Action: 'securityhub:BatchImportFindings',
      Resource: join('arn:', partition, ':securityhub:', region, ':', account, ':product/', account, '/default'),
    });
    assert.deepEqual(statementsOf(template).ReadOwnFindings, {
      Sid: 'ReadOwnFindings',
      Effect: 'Allow',
      Action: 'securityhub:GetFindings',
      Resource: join('arn:', partition, ':securityhub:', region, ':', account, ':hub/default'),
    });
  });

  it('manages access keys of the users under this deployment\'s own path only', () => {
    assert.equal(rotator.deploymentUserPath, '/rotated/TestRotator/');
    assert.deepEqual(statementsOf(template).ManageAccessKeysOfManagedUsers, {
      Sid: 'ManageAccessKeysOfManagedUsers',
      Effect: 'Allow',
      Action: [...IAM_KEY_ACTIONS].sort(),
      Resource: join('arn:', partition, ':iam::', account, ':user/rotated/TestRotator/*'),
    });
    assert.deepEqual(IAM_KEY_ACTIONS.slice().sort(), [
      'iam:CreateAccessKey',
      'iam:DeleteAccessKey',
      'iam:GetAccessKeyLastUsed',
      'iam:ListAccessKeys',
      'iam:ListUserTags',
      'iam:UpdateAccessKey',
    ]);
    assert.deepEqual(IAM_USER_ACTIONS.slice().sort(), [...IAM_KEY_ACTIONS, ...IAM_TAG_ACTIONS].sort());
    const { template: t } = synthStack({ ...BASE_CONFIG, managedUserPath: '/org/keys/' });
    assert.deepEqual(
      statementsOf(t).ManageAccessKeysOfManagedUsers.Resource,
      join('arn:', partition, ':iam::', account, ':user/org/keys/TestRotator/*'),
    );
  });

  it('does not reach the users of another deployment under the same base path', () => {
    const other = synthStack(BASE_CONFIG, undefined, 'OtherRotator').template;
    const mine = statementsOf(template).ManageAccessKeysOfManagedUsers.Resource['Fn::Join'][1].at(-1);
    const theirs = statementsOf(other).ManageAccessKeysOfManagedUsers.Resource['Fn::Join'][1].at(-1);
    assert.equal(mine, ':user/rotated/TestRotator/*');
    assert.equal(theirs, ':user/rotated/OtherRotator/*');
    // Neither pattern matches a user of the other: each path ends in "/" before the wildcard.
    const matches = (pattern: string, arn: string) => arn.startsWith(pattern.slice(0, -1));
    assert.ok(!matches(mine, ':user/rotated/OtherRotator/alice'));
    assert.ok(!matches(mine, ':user/rotated/TestRotatorB/alice'));
    assert.ok(!matches(mine, ':user/rotated/alice'));
    assert.ok(matches(mine, ':user/rotated/TestRotator/alice'));
    assert.deepEqual(
      statementsOf(other).TagManagedUsersWithRotatorKeysOnly.Resource,
      join('arn:', partition, ':iam::', account, ':user/rotated/OtherRotator/*'),
    );
  });

  it('tags and untags those users only with the rotator\'s own tag keys, in a statement of their own', () => {
    assert.deepEqual(statementsOf(template).TagManagedUsersWithRotatorKeysOnly, {
      Sid: 'TagManagedUsersWithRotatorKeysOnly',
      Effect: 'Allow',
      Action: ['iam:TagUser', 'iam:UntagUser'],
      Resource: join('arn:', partition, ':iam::', account, ':user/rotated/TestRotator/*'),
      Condition: {
        'ForAllValues:StringLike': { 'aws:TagKeys': 'rotator:*' },
        Null: { 'aws:TagKeys': 'false' },
      },
    });
    // No other statement grants a tagging action, and none uses aws:RequestTag.
    for (const [sid, statement] of Object.entries(statementsOf(template))) {
      if (sid === 'TagManagedUsersWithRotatorKeysOnly') continue;
      for (const action of [statement.Action].flat()) assert.ok(!IAM_TAG_ACTIONS.includes(action), `${sid} grants ${action}`);
    }
    assert.ok(!JSON.stringify(template.toJSON()).includes('aws:RequestTag'));
  });

  it('rotates the secrets of this deployment\'s prefix only, and only while it is their rotation function', () => {
    assert.deepEqual(statementsOf(template).RotateManagedSecrets, {
      Sid: 'RotateManagedSecrets',
      Effect: 'Allow',
      Action: [...SECRET_ACTIONS].sort(),
      Resource: join('arn:', partition, ':secretsmanager:', region, ':', account, ':secret:TestRotator/*'),
      Condition: { ArnEquals: { 'secretsmanager:resource/AllowRotationLambdaArn': FUNCTION_ARN } },
    });
    assert.deepEqual(SECRET_ACTIONS.slice().sort(), [
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetSecretValue',
      'secretsmanager:ListSecretVersionIds',
      'secretsmanager:PutSecretValue',
      'secretsmanager:UpdateSecretVersionStage',
    ]);
  });

  it('publishes to the alert topic, using its key through SNS only', () => {
    const statements = statementsOf(template);
    assert.deepEqual(statements.PublishAlerts, {
      Sid: 'PublishAlerts',
      Effect: 'Allow',
      Action: 'sns:Publish',
      Resource: TOPIC,
    });
    assert.deepEqual(statements.EncryptAlerts, {
      Sid: 'EncryptAlerts',
      Effect: 'Allow',
      Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
      Resource: { 'Fn::GetAtt': [LOGICAL_IDS.alertKey, 'Arn'] },
      Condition: { StringEquals: { 'kms:ViaService': join('sns.', region, '.amazonaws.com') } },
    });
  });

  it('writes to its own log group only', () => {
    assert.deepEqual(statementsOf(template).WriteOwnLogs, {
      Sid: 'WriteOwnLogs',
      Effect: 'Allow',
      Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      Resource: { 'Fn::GetAtt': [LOGICAL_IDS.logGroup, 'Arn'] },
    });
  });

  it('sends email only from the configured sender', () => {
    assert.deepEqual(statementsOf(template).SendSuccessEmailsAsSender, {
      Sid: 'SendSuccessEmailsAsSender',
      Effect: 'Allow',
      Action: 'ses:SendEmail',
      Resource: join('arn:', partition, ':ses:', region, ':', account, ':identity/*'),
      Condition: { StringEquals: { 'ses:FromAddress': 'rotator@example.com' } },
    });
  });

  it('has no SES permission, identity or variable without a sender', () => {
    const { template: t } = synthStack({ users: [{ name: 'alice' }] });
    assert.equal(statementsOf(t).SendSuccessEmailsAsSender, undefined);
    t.resourceCountIs('AWS::SES::EmailIdentity', 0);
    const { resource } = only(t, 'AWS::Lambda::Function');
    assert.equal(resource.Properties.Environment.Variables.ROTATOR_SENDER_EMAIL, undefined);
    assert.equal(resource.Properties.Environment.Variables.ROTATOR_DEFAULT_NOTIFY_EMAIL, undefined);
  });

  it('uses no wildcard action, and the "*" resource only for ListSecrets, which has no other', () => {
    for (const [sid, statement] of Object.entries(statementsOf(template))) {
      for (const action of [statement.Action].flat()) assert.ok(!action.includes('*'), action);
      if (sid === 'ListSecretsForTheSweep') continue;
      for (const resource of [statement.Resource].flat()) assert.notEqual(resource, '*', sid);
    }
    assert.deepEqual(statementsOf(template).ListSecretsForTheSweep, {
      Sid: 'ListSecretsForTheSweep',
      Effect: 'Allow',
      Action: 'secretsmanager:ListSecrets',
      Resource: '*',
    });
  });

  it('is the only grant: no policy names GetRandomPassword or any other action', () => {
    const json = JSON.stringify(template.toJSON());
    assert.ok(!json.includes('GetRandomPassword'));
    template.resourceCountIs('AWS::IAM::Policy', 1);
    template.resourceCountIs('AWS::IAM::ManagedPolicy', 0);
  });
});

describe('the alert topic', () => {
  it('is encrypted with a rotating customer-managed key that alert publishers may use', () => {
    template.hasResource('AWS::KMS::Key', {
      Properties: {
        EnableKeyRotation: true,
        KeyPolicy: {
          Statement: [
            {
              Action: 'kms:*',
              Effect: 'Allow',
              Principal: { AWS: join('arn:', partition, ':iam::', account, ':root') },
              Resource: '*',
            },
            {
              Sid: 'AllowEventBridgeToEncryptAlerts',
              Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
              Effect: 'Allow',
              Principal: { Service: 'events.amazonaws.com' },
              Resource: '*',
            },
            {
              Sid: 'AllowAlarmsToEncryptAlerts',
              Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
              Condition: {
                StringEquals: { 'aws:SourceAccount': account },
                ArnEquals: {
                  'aws:SourceArn': ALARM_SUFFIXES.map((name) =>
                    join('arn:', partition, ':cloudwatch:', region, ':', account, `:alarm:TestRotator-${name}`),
                  ),
                },
              },
              Effect: 'Allow',
              Principal: { Service: 'cloudwatch.amazonaws.com' },
              Resource: '*',
            },
          ],
        },
      },
      DeletionPolicy: 'Retain',
    });
    template.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: { 'Fn::GetAtt': [LOGICAL_IDS.alertKey, 'Arn'] },
    });
  });

  it('names in its key policy exactly the alarms of this stack, and no source condition for EventBridge', () => {
    const alarms = template.findResources('AWS::CloudWatch::Alarm');
    assert.deepEqual(
      Object.values(alarms).map((alarm: any) => alarm.Properties.AlarmName).sort(),
      ALARM_SUFFIXES.map((suffix) => `TestRotator-${suffix}`).sort(),
    );
    const resource = template.findResources('AWS::KMS::Key')[LOGICAL_IDS.alertKey];
    const events = resource.Properties.KeyPolicy.Statement.find((s: any) => s.Principal?.Service === 'events.amazonaws.com');
    assert.equal(events.Condition, undefined);
  });

  it('refuses plain HTTP and admits only this rule and these alarms as service publishers', () => {
    const { resource } = only(template, 'AWS::SNS::TopicPolicy');
    assert.deepEqual(resource.Properties.Topics, [TOPIC]);
    assert.deepEqual(resource.Properties.PolicyDocument.Statement, [
      {
        Sid: 'AllowPublishThroughSSLOnly',
        Action: 'sns:Publish',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        Effect: 'Deny',
        Principal: '*',
        Resource: TOPIC,
      },
      {
        Sid: 'AllowRotationFailureRule',
        Action: 'sns:Publish',
        Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [logicalId(rotator.rotationFailureRule), 'Arn'] } } },
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Resource: TOPIC,
      },
      {
        Sid: 'AllowRotatorAlarms',
        Action: 'sns:Publish',
        Condition: {
          ArnEquals: {
            'aws:SourceArn': [
              rotator.errorsAlarm,
              rotator.failedDeliveriesAlarm,
              rotator.deadLettersAlarm,
              ...Object.values(rotator.metricAlarms),
            ].map((alarm) => ({ 'Fn::GetAtt': [logicalId(alarm), 'Arn'] })),
          },
          StringEquals: { 'aws:SourceAccount': account },
        },
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Resource: TOPIC,
      },
    ]);
  });

  it('emails each alert address', () => {
    template.resourceCountIs('AWS::SNS::Subscription', 2);
    for (const email of BASE_CONFIG.alertEmails) {
      template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: email, TopicArn: TOPIC });
    }
  });
});

describe('the SES sender identity', () => {
  it('is created for the sender address', () => {
    template.resourceCountIs('AWS::SES::EmailIdentity', 1);
    template.hasResourceProperties('AWS::SES::EmailIdentity', { EmailIdentity: 'rotator@example.com' });
  });

  it('is left alone when it already exists', () => {
    const { template: t } = synthStack({ ...BASE_CONFIG, createSenderIdentity: false });
    t.resourceCountIs('AWS::SES::EmailIdentity', 0);
    assert.ok(statementsOf(t).SendSuccessEmailsAsSender);
  });
});

describe('the secrets', () => {
  it('live in nested stacks, one per shard with users, named by the shard and created after the grant', () => {
    const nested = template.findResources('AWS::CloudFormation::Stack');
    const expected = [...new Set(['alice', 'bob'].map((name) => shardId(shardOf(name))))].sort();
    assert.deepEqual(Object.keys(nested).sort(), expected);
    const permissionId = only(template, 'AWS::Lambda::Permission').id;
    const policyId = only(template, 'AWS::IAM::Policy').id;
    for (const resource of Object.values(nested)) {
      assert.ok(resource.DependsOn.includes(permissionId), 'depends on the invoke permission');
      assert.ok(resource.DependsOn.includes(policyId), 'depends on the role policy');
      // The function's ARN, the secrets' key and the function's role (the only writer) are all that is handed down.
      const roleArn = { 'Fn::GetAtt': [stack.resolve((stack.rotator.role.node.defaultChild as CfnElement).logicalId), 'Arn'] };
      assert.deepEqual(
        new Set(Object.values(resource.Properties.Parameters).map((p) => JSON.stringify(p))),
        new Set([FUNCTION_ARN, { 'Fn::GetAtt': ['SecretsKey', 'Arn'] }, roleArn].map((p) => JSON.stringify(p))),
      );
    }
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    template.resourceCountIs('AWS::SecretsManager::RotationSchedule', 0);
  });

  it('hold one user name each, named after the stack and the user', () => {
    assert.equal(Object.keys(shardResources(stack, 'AWS::SecretsManager::Secret')).length, 2);
    shardOfUser('alice').hasResource('AWS::SecretsManager::Secret', {
      Properties: Match.objectLike({ Name: 'TestRotator/alice', SecretString: '{"UserName":"alice"}' }),
    });
    shardOfUser('bob').hasResource('AWS::SecretsManager::Secret', {
      Properties: Match.objectLike({ Name: 'TestRotator/bob', SecretString: '{"UserName":"bob"}' }),
    });
  });

  it('carry the NotifyEmail tag when the user has notify addresses', () => {
    const secrets = shardResources(stack, 'AWS::SecretsManager::Secret');
    assert.deepEqual(secrets[ALICE].Properties.Tags, [
      { Key: 'NotifyEmail', Value: 'alice@example.com,team@example.com' },
    ]);
    assert.equal(secrets[BOB].Properties.Tags, undefined);
  });

  it('rotate on the configured schedule through the function', () => {
    for (const [name, secretId] of [['alice', ALICE], ['bob', BOB]] as const) {
      const shard = rotator.shards.get(shardOf(name))!;
      const schedules = Object.values(shardOfUser(name).findResources('AWS::SecretsManager::RotationSchedule'));
      const schedule = schedules.find((s: any) => s.Properties.SecretId.Ref === secretId);
      assert.ok(schedule, `a schedule for ${name}`);
      const functionArn = schedule.Properties.RotationLambdaARN;
      assert.deepEqual(Object.keys(functionArn), ['Ref']);
      assert.ok(Object.keys(Template.fromStack(shard).toJSON().Parameters).includes(functionArn.Ref));
      assert.deepEqual({ ...schedule.Properties, RotationLambdaARN: undefined }, {
        SecretId: { Ref: secretId },
        RotationLambdaARN: undefined,
        // The defaults: the largest interval within 90 days of key age, and no rotation during the deployment.
        RotationRules: { ScheduleExpression: 'rate(81 days)' },
        RotateImmediatelyOnUpdate: false,
      });
    }
  });

  it('create the schedules of a shard one after another, in the order of the user names', () => {
    const names = Array.from({ length: 400 }, (_, i) => `u${i}`);
    const { stack: s } = synthStack({ users: names.map((name) => ({ name })) });
    let chained = 0;
    for (const [shard, nested] of s.rotator.shards) {
      const users = names.filter((name) => shardOf(name) === shard).sort();
      const resources = Template.fromStack(nested).findResources('AWS::SecretsManager::RotationSchedule');
      const bySecret = new Map(Object.entries(resources).map(([id, r]: [string, any]) => [r.Properties.SecretId.Ref, { id, r }]));
      users.forEach((name, i) => {
        const { r } = bySecret.get(secretLogicalId(name))!;
        if (i === 0) assert.equal(r.DependsOn, undefined, `${name} starts its shard's chain`);
        else {
          assert.deepEqual(r.DependsOn, [bySecret.get(secretLogicalId(users[i - 1]))!.id], `${name} waits for ${users[i - 1]}`);
          chained++;
        }
      });
    }
    assert.ok(chained > 300);
  });

  it('are created at most ten shards at a time', () => {
    const names = Array.from({ length: 400 }, (_, i) => `u${i}`);
    const { template: t } = synthStack({ users: names.map((name) => ({ name })) });
    const nested = Object.entries(t.findResources('AWS::CloudFormation::Stack')).sort(([a], [b]) => a.localeCompare(b));
    assert.ok(nested.length > 20);
    nested.forEach(([id, resource], i) => {
      const shards = resource.DependsOn.filter((d: string) => d.startsWith('SecretShard'));
      if (i < 10) assert.deepEqual(shards, [], `${id} starts at once`);
      else assert.deepEqual(shards, [nested[i - 10][0]], `${id} waits for the shard ten before it`);
    });
  });

  it('are created after every other resource of the stack, without a cycle', () => {
    const names = Array.from({ length: 400 }, (_, i) => `u${i}`);
    const { template: t } = synthStack({ ...BASE_CONFIG, users: names.map((name) => ({ name })) });
    const resources: Record<string, any> = t.toJSON().Resources;
    const shardIds = Object.keys(resources).filter((id) => resources[id].Type === 'AWS::CloudFormation::Stack');
    const others = Object.keys(resources).filter((id) => !shardIds.includes(id) && resources[id].Type !== 'AWS::CDK::Metadata');
    assert.ok(others.length > 20, `${others.length} other resources`);
    // What a resource waits for: its DependsOn, and the resources it refers to.
    const waitsFor = (id: string): string[] => {
      const refs = new Set<string>([resources[id].DependsOn ?? []].flat());
      const walk = (v: any) => {
        if (Array.isArray(v)) v.forEach(walk);
        else if (v && typeof v === 'object') {
          if (typeof v.Ref === 'string' && resources[v.Ref]) refs.add(v.Ref);
          if (Array.isArray(v['Fn::GetAtt'])) refs.add(v['Fn::GetAtt'][0]);
          Object.values(v).forEach(walk);
        }
      };
      walk(resources[id].Properties);
      return [...refs];
    };
    const before = (id: string, seen = new Set<string>()): Set<string> => {
      for (const dep of waitsFor(id)) if (!seen.has(dep)) { seen.add(dep); before(dep, seen); }
      return seen;
    };
    for (const shard of shardIds) {
      const all = before(shard);
      const missing = others.filter((id) => !all.has(id));
      // Before, the shards waited for the function's permission and policy only: the topic, its subscriptions, the
      // alarms, the rule and the sweep could still fail and roll back secrets whose rotations had already run.
      assert.deepEqual(missing, [], `${shard} is created before ${missing.join(', ')}`);
      assert.ok(!all.has(shard), `${shard} waits for itself`);
    }
    for (const other of others) assert.ok(!shardIds.some((shard) => before(other).has(shard)), `${other} waits for a shard`);
  });

  it('follow rotationDays and rotateImmediately', () => {
    const { stack: s } = synthStack({ ...BASE_CONFIG, rotationDays: 30, rotateImmediately: true });
    for (const t of shardTemplates(s).values()) {
      t.allResourcesProperties('AWS::SecretsManager::RotationSchedule', {
        RotationRules: { ScheduleExpression: 'rate(30 days)' },
        RotateImmediatelyOnUpdate: true,
      });
    }
  });

  it('are protected from deletion by anyone in the account while the stack holds them, and written by the writers only', () => {
    assert.equal(Object.keys(shardResources(stack, 'AWS::SecretsManager::ResourcePolicy')).length, 2);
    for (const t of SHARDS.values()) {
      t.allResourcesProperties('AWS::SecretsManager::ResourcePolicy', {
        ResourcePolicy: {
          Statement: [
            {
              Action: 'secretsmanager:DeleteSecret',
              Effect: 'Deny',
              Principal: { AWS: join('arn:', partition, ':iam::', account, ':root') },
              Resource: '*',
            },
            {
              Sid: 'DenyWritesButTheWriters',
              Action: [
                'secretsmanager:DeleteResourcePolicy',
                'secretsmanager:PutResourcePolicy',
                'secretsmanager:PutSecretValue',
                'secretsmanager:UpdateSecret',
                'secretsmanager:UpdateSecretVersionStage',
              ],
              Effect: 'Deny',
              Principal: { AWS: '*' },
              Resource: '*',
              Condition: { ArnNotEquals: { 'aws:PrincipalArn': Match.anyValue() } },
            },
          ],
        },
        // Secrets Manager refuses any later policy that would grant broad access.
        BlockPublicPolicy: true,
      });
    }
  });

  it('hold no other resource, and put no output per user', () => {
    for (const t of SHARDS.values()) {
      const types = new Set(Object.values(t.toJSON().Resources).map((r: any) => r.Type));
      assert.deepEqual([...types].sort(), [
        'AWS::SecretsManager::ResourcePolicy',
        'AWS::SecretsManager::RotationSchedule',
        'AWS::SecretsManager::Secret',
      ]);
      assert.equal(t.toJSON().Outputs, undefined);
    }
    assert.deepEqual(Object.keys(template.toJSON().Outputs).filter((id) => /alice|bob/i.test(id)), []);
  });

  it('refuse a shard with more users than it can hold', () => {
    const crowded: string[] = [];
    for (let i = 0; crowded.length < 151; i++) if (shardOf(`u${i}`) === 7) crowded.push(`u${i}`);
    assert.throws(() => synthStack({ users: crowded.map((name) => ({ name })) }), /151 users fall into SecretShard07, more than its 150/);
  });
});

describe('the alerting', () => {
  it('forwards failed and abandoned rotations, and failed rotation tests, of this stack\'s secrets to the topic, as readable text', () => {
    const { resource } = only(template, 'AWS::Events::Rule');
    assert.deepEqual(resource.Properties.EventPattern, {
      source: ['aws.secretsmanager'],
      'detail-type': ['AWS Service Event via CloudTrail'],
      detail: {
        eventSource: ['secretsmanager.amazonaws.com'],
        // TestRotationFailed is what a schedule that runs only testSecret (rotateImmediately false) records.
        eventName: ['RotationFailed', 'RotationAbandoned', 'TestRotationFailed'],
        additionalEventData: {
          SecretId: [{ prefix: join('arn:', partition, ':secretsmanager:', region, ':', account, ':secret:TestRotator/') }],
        },
      },
    });
    assert.equal(resource.Properties.State, 'ENABLED');
    const [target] = resource.Properties.Targets;
    assert.deepEqual(target.Arn, TOPIC);
    assert.deepEqual(target.InputTransformer.InputPathsMap, {
      'detail-eventName': '$.detail.eventName',
      'detail-additionalEventData-SecretId': '$.detail.additionalEventData.SecretId',
      'detail-errorMessage': '$.detail.errorMessage',
    });
    assert.match(target.InputTemplate ?? target.InputTransformer.InputTemplate, /reported <detail-eventName> for <detail-additionalEventData-SecretId>/);
    assert.equal(target.RoleArn, undefined);
  });

  it('keeps what the rule cannot deliver in an encrypted, TLS-only dead-letter queue that only this rule may fill', () => {
    const [target] = only(template, 'AWS::Events::Rule').resource.Properties.Targets;
    assert.deepEqual(target.DeadLetterConfig, { Arn: { 'Fn::GetAtt': [LOGICAL_IDS.deadLetterQueue, 'Arn'] } });
    assert.deepEqual(target.RetryPolicy, { MaximumEventAgeInSeconds: 86400, MaximumRetryAttempts: 185 });
    const queue = template.findResources('AWS::SQS::Queue')[LOGICAL_IDS.deadLetterQueue];
    assert.deepEqual(queue.Properties, { MessageRetentionPeriod: 1209600, SqsManagedSseEnabled: true });
    const policy = (Object.values(template.findResources('AWS::SQS::QueuePolicy')) as any[]).find(
      (p) => p.Properties.Queues[0].Ref === LOGICAL_IDS.deadLetterQueue,
    ).Properties;
    const QUEUE_ARN = { 'Fn::GetAtt': [LOGICAL_IDS.deadLetterQueue, 'Arn'] };
    assert.deepEqual(policy.Queues, [{ Ref: LOGICAL_IDS.deadLetterQueue }]);
    assert.deepEqual(policy.PolicyDocument.Statement, [
      {
        Action: 'sqs:*',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Resource: QUEUE_ARN,
      },
      {
        Sid: 'AllowRotationFailureRule',
        Action: 'sqs:SendMessage',
        Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [logicalId(rotator.rotationFailureRule), 'Arn'] } } },
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Resource: QUEUE_ARN,
      },
    ]);
  });

  it('alarms on any function error, failed delivery or dead letter within five minutes', () => {
    const alarms = template.findResources('AWS::CloudWatch::Alarm');
    const common = {
      AlarmActions: [TOPIC],
      Period: 300,
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    };
    const props = (alarm: cloudwatchAlarm) => {
      const p = alarms[logicalId(alarm)].Properties;
      assert.ok(p.AlarmDescription.length > 40);
      return { ...p, AlarmDescription: undefined };
    };
    assert.deepEqual(props(rotator.errorsAlarm), {
      ...common,
      AlarmDescription: undefined,
      AlarmName: 'TestRotator-FunctionErrors',
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: FUNCTION_ID } }],
      Statistic: 'Sum',
    });
    assert.deepEqual(props(rotator.failedDeliveriesAlarm), {
      ...common,
      AlarmDescription: undefined,
      AlarmName: 'TestRotator-AlertDeliveryFailures',
      Namespace: 'AWS/Events',
      MetricName: 'FailedInvocations',
      Dimensions: [{ Name: 'RuleName', Value: { Ref: logicalId(rotator.rotationFailureRule) } }],
      Statistic: 'Sum',
    });
    assert.deepEqual(props(rotator.deadLettersAlarm), {
      ...common,
      AlarmDescription: undefined,
      AlarmName: 'TestRotator-UndeliveredAlerts',
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [LOGICAL_IDS.deadLetterQueue, 'QueueName'] } }],
      Statistic: 'Maximum',
    });
  });
});

describe('stability', () => {
  it('gives the stateful resources fixed logical ids', () => {
    assert.deepEqual(
      [logicalId(rotator.alertKey), logicalId(rotator.alertTopic), logicalId(rotator.logGroup), logicalId(rotator.deadLetterQueue)],
      ['AlertTopicKey', 'AlertTopic', 'RotatorLogGroup', 'AlertDeadLetterQueue'],
    );
    template.hasResource('AWS::KMS::Key', {});
    assert.ok(template.findResources('AWS::SNS::Topic').AlertTopic);
    assert.ok(template.findResources('AWS::Logs::LogGroup').RotatorLogGroup);
    // These literals pin the derivations: changing either would replace deployed secrets.
    assert.equal(ALICE, 'UserSecretalice2BD806C9');
    assert.equal(secretLogicalId('svc.ci@x'), 'UserSecretsvccix' + secretLogicalId('svc.ci@x').slice(-8));
    assert.notEqual(secretLogicalId('a.b'), secretLogicalId('ab'));
    assert.deepEqual([shardOf('alice'), shardOf('bob'), shardOf('ALICE')], [shardOf('alice'), shardOf('bob'), shardOf('alice')]);
    assert.deepEqual([shardId(shardOf('alice')), shardId(shardOf('bob')), shardId(3)], ['SecretShard01', 'SecretShard12', 'SecretShard03']);
    assert.deepEqual(Object.keys(shardResources(stack, 'AWS::SecretsManager::Secret')).sort(), [ALICE, BOB].sort());
  });

  it('keeps every secret (and its schedule) in its shard when users are reordered, added or removed', () => {
    const reordered = synthStack({
      ...BASE_CONFIG,
      users: [{ name: 'carol' }, BASE_CONFIG.users[1], BASE_CONFIG.users[0]],
    }).stack;
    for (const [name, id] of [['alice', ALICE], ['bob', BOB]] as const) {
      const shard = shardId(shardOf(name));
      const before = SHARDS.get(shard)!;
      const after = shardTemplates(reordered).get(shard)!;
      assert.deepEqual(after.findResources('AWS::SecretsManager::Secret')[id], before.findResources('AWS::SecretsManager::Secret')[id]);
      const schedulesBefore = Object.keys(before.findResources('AWS::SecretsManager::RotationSchedule'));
      const schedulesAfter = Object.keys(after.findResources('AWS::SecretsManager::RotationSchedule'));
      for (const schedule of schedulesBefore) assert.ok(schedulesAfter.includes(schedule), `schedule ${schedule} kept`);
    }
    assert.ok(shardResources(reordered, 'AWS::SecretsManager::Secret')[secretLogicalId('carol')]);
    const fewer = synthStack({ ...BASE_CONFIG, users: [BASE_CONFIG.users[1]] });
    assert.deepEqual(
      shardResources(fewer.stack, 'AWS::SecretsManager::Secret')[BOB],
      shardResources(stack, 'AWS::SecretsManager::Secret')[BOB],
    );
    for (const type of ['AWS::KMS::Key', 'AWS::SNS::Topic', 'AWS::Logs::LogGroup', 'AWS::SQS::Queue']) {
      assert.deepEqual(Object.keys(fewer.template.findResources(type)), Object.keys(template.findResources(type)));
    }
  });
});

describe('synthesis', () => {
  it('raises no CDK warning or error', () => {
    const annotations = Annotations.fromStack(stack);
    assert.deepEqual(annotations.findWarning('*', Match.anyValue()), []);
    assert.deepEqual(annotations.findError('*', Match.anyValue()), []);
  });

  it('refuses a user path longer than IAM allows', () => {
    const longPath = `/${'p'.repeat(250)}/${'q'.repeat(250)}/`;
    assert.throws(() => synthStack({ users: [{ name: 'alice' }], managedUserPath: longPath }, undefined, 'S'.repeat(100)), /longer than IAM's 512 characters/);
  });
});

describe('the outputs', () => {
  it('carry the names that the README and `cargo xtask deploy` use, not construct paths with hashes', () => {
    // Before: RotatorFunctionRoleArn867ADE8C and the like (issue 26, point 8).
    const { template: t } = synthStack({
      ...BASE_CONFIG,
      users: [{ name: 'alice', account: '111122223333' }],
      organization: { id: 'o-a1b2c3d4e5', organizationalUnits: ['r-ab12'] },
      operatorPrincipalArns: ['arn:aws:iam::123456789012:role/security-operators'],
    });
    const outputs = Object.keys(t.toJSON().Outputs).filter((id) => !id.startsWith('ExportsOutput'));
    assert.deepEqual(outputs.sort(), Object.values(OUTPUT_NAMES).sort());
    assert.deepEqual(Object.values(OUTPUT_NAMES).sort(), [
      'AlertTopicArn',
      'FunctionName',
      'FunctionRoleArn',
      'ManagedUserPath',
      'ReaderRoleArn',
      'SecretNamePrefix',
      'SecretsKeyArn',
    ]);
    assert.deepEqual(t.toJSON().Outputs.FunctionRoleArn.Value, { 'Fn::GetAtt': [logicalId(rotator.role), 'Arn'] });
  });

  it('name the StackSet of the member-roles stack for the check after a deployment', () => {
    const { stack: s } = synthStack({
      ...BASE_CONFIG,
      users: [{ name: 'alice', account: '111122223333' }],
      organization: { id: 'o-a1b2c3d4e5', organizationalUnits: ['r-ab12'], callAs: 'DELEGATED_ADMIN' },
    });
    const outputs = Template.fromStack(s.memberRoles!).toJSON().Outputs;
    assert.deepEqual(Object.keys(outputs).sort(), [STACK_SET_OUTPUTS.callAs, STACK_SET_OUTPUTS.name].sort());
    assert.equal(outputs[STACK_SET_OUTPUTS.name].Value, 'TestRotator-MemberRole');
    assert.equal(outputs[STACK_SET_OUTPUTS.callAs].Value, 'DELEGATED_ADMIN');
  });
});
