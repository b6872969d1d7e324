/** Fine-grained template tests of the Rotator: every resource, every IAM statement with its resources and conditions, and stable logical ids. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CfnElement } from 'aws-cdk-lib';
import { Annotations, Match, type Template } from 'aws-cdk-lib/assertions';
import { IAM_USER_ACTIONS, LOGICAL_IDS, SECRET_ACTIONS, secretLogicalId } from '../lib/rotator';
import { MAX_USERS } from '../lib/config';
import { BASE_CONFIG, synthStack, testApp } from './support/fixtures';

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
const BOB = secretLogicalId('bob');

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
          ROTATOR_OLD_KEY: 'delete',
          ROTATOR_TEST_TIMEOUT_SECS: '60',
        }),
      },
    });
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
    const { resource } = only(template, 'AWS::IAM::Role');
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
      ['EncryptAlerts', 'ManageAccessKeysOfManagedUsers', 'PublishAlerts', 'RotateManagedSecrets', 'SendSuccessEmailsAsSender', 'WriteOwnLogs'],
    );
  });

  it('manages access keys of users under the managed path only', () => {
    assert.deepEqual(statementsOf(template).ManageAccessKeysOfManagedUsers, {
      Sid: 'ManageAccessKeysOfManagedUsers',
      Effect: 'Allow',
      Action: [...IAM_USER_ACTIONS].sort(),
      Resource: join('arn:', partition, ':iam::', account, ':user/rotated/*'),
    });
    assert.deepEqual(IAM_USER_ACTIONS.slice().sort(), [
      'iam:CreateAccessKey',
      'iam:DeleteAccessKey',
      'iam:ListAccessKeys',
      'iam:ListUserTags',
      'iam:TagUser',
      'iam:UntagUser',
      'iam:UpdateAccessKey',
    ]);
    const { template: t } = synthStack({ ...BASE_CONFIG, managedUserPath: '/org/keys/' });
    assert.deepEqual(
      statementsOf(t).ManageAccessKeysOfManagedUsers.Resource,
      join('arn:', partition, ':iam::', account, ':user/org/keys/*'),
    );
  });

  it('rotates exactly the managed secrets, and only while it is their rotation function', () => {
    assert.deepEqual(statementsOf(template).RotateManagedSecrets, {
      Sid: 'RotateManagedSecrets',
      Effect: 'Allow',
      Action: [...SECRET_ACTIONS].sort(),
      Resource: [{ Ref: ALICE }, { Ref: BOB }],
      Condition: { StringEquals: { 'secretsmanager:resource/AllowRotationLambdaArn': FUNCTION_ARN } },
    });
    assert.deepEqual(SECRET_ACTIONS.slice().sort(), [
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetSecretValue',
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

  it('uses no wildcard action and no "*" resource', () => {
    for (const statement of Object.values(statementsOf(template))) {
      for (const action of [statement.Action].flat()) assert.ok(!action.includes('*'), action);
      for (const resource of [statement.Resource].flat()) assert.notEqual(resource, '*');
    }
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
              Sid: 'AllowAlertPublishersToEncrypt',
              Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
              Effect: 'Allow',
              Principal: { Service: ['cloudwatch.amazonaws.com', 'events.amazonaws.com'] },
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

  it('refuses plain HTTP and admits only this rule and this alarm as service publishers', () => {
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
        Sid: 'AllowErrorsAlarm',
        Action: 'sns:Publish',
        Condition: {
          ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [logicalId(rotator.errorsAlarm), 'Arn'] } },
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
  it('hold one user name each, named after the stack and the user', () => {
    template.resourceCountIs('AWS::SecretsManager::Secret', 2);
    template.hasResource('AWS::SecretsManager::Secret', {
      Properties: Match.objectLike({ Name: 'TestRotator/alice', SecretString: '{"UserName":"alice"}' }),
    });
    template.hasResource('AWS::SecretsManager::Secret', {
      Properties: Match.objectLike({ Name: 'TestRotator/bob', SecretString: '{"UserName":"bob"}' }),
    });
  });

  it('carry the NotifyEmail tag when the user has notify addresses', () => {
    const secrets = template.findResources('AWS::SecretsManager::Secret');
    assert.deepEqual(secrets[ALICE].Properties.Tags, [
      { Key: 'NotifyEmail', Value: 'alice@example.com,team@example.com' },
    ]);
    assert.equal(secrets[BOB].Properties.Tags, undefined);
  });

  it('rotate on the configured schedule through the function, after its permission and policy exist', () => {
    const schedules = Object.values(template.findResources('AWS::SecretsManager::RotationSchedule'));
    assert.equal(schedules.length, 2);
    const permissionId = only(template, 'AWS::Lambda::Permission').id;
    const policyId = only(template, 'AWS::IAM::Policy').id;
    for (const [secretId, schedule] of [ALICE, BOB].map((id, i) => [id, schedules[i]] as const)) {
      assert.deepEqual(schedule.Properties, {
        SecretId: { Ref: secretId },
        RotationLambdaARN: FUNCTION_ARN,
        RotationRules: { ScheduleExpression: 'rate(90 days)' },
        RotateImmediatelyOnUpdate: true,
      });
      assert.ok(schedule.DependsOn.includes(permissionId), 'depends on the invoke permission');
      assert.ok(schedule.DependsOn.includes(policyId), 'depends on the role policy');
    }
  });

  it('follow rotationDays and rotateImmediately', () => {
    const { template: t } = synthStack({ ...BASE_CONFIG, rotationDays: 30, rotateImmediately: false });
    t.allResourcesProperties('AWS::SecretsManager::RotationSchedule', {
      RotationRules: { ScheduleExpression: 'rate(30 days)' },
      RotateImmediatelyOnUpdate: false,
    });
  });

  it('are protected from deletion by anyone in the account while the stack holds them', () => {
    template.resourceCountIs('AWS::SecretsManager::ResourcePolicy', 2);
    template.allResourcesProperties('AWS::SecretsManager::ResourcePolicy', {
      ResourcePolicy: {
        Statement: [
          {
            Action: 'secretsmanager:DeleteSecret',
            Effect: 'Deny',
            Principal: { AWS: join('arn:', partition, ':iam::', account, ':root') },
            Resource: '*',
          },
        ],
      },
    });
  });
});

describe('the alerting', () => {
  it('forwards failed and abandoned rotations of this stack\'s secrets to the topic, as readable text', () => {
    const { resource } = only(template, 'AWS::Events::Rule');
    assert.deepEqual(resource.Properties.EventPattern, {
      source: ['aws.secretsmanager'],
      'detail-type': ['AWS Service Event via CloudTrail'],
      detail: {
        eventSource: ['secretsmanager.amazonaws.com'],
        eventName: ['RotationFailed', 'RotationAbandoned'],
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

  it('alarms on any function error within five minutes', () => {
    const { resource } = only(template, 'AWS::CloudWatch::Alarm');
    assert.deepEqual(
      { ...resource.Properties, AlarmDescription: undefined },
      {
        AlarmDescription: undefined,
        AlarmActions: [TOPIC],
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: FUNCTION_ID } }],
        Statistic: 'Sum',
        Period: 300,
        EvaluationPeriods: 1,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      },
    );
  });
});

describe('stability', () => {
  it('gives the stateful resources fixed logical ids', () => {
    assert.deepEqual(
      [logicalId(rotator.alertKey), logicalId(rotator.alertTopic), logicalId(rotator.logGroup)],
      ['AlertTopicKey', 'AlertTopic', 'RotatorLogGroup'],
    );
    template.hasResource('AWS::KMS::Key', {});
    assert.ok(template.findResources('AWS::SNS::Topic').AlertTopic);
    assert.ok(template.findResources('AWS::Logs::LogGroup').RotatorLogGroup);
    // These literals pin the derivation: changing it would replace every deployed secret.
    assert.equal(ALICE, 'UserSecretalice2BD806C9');
    assert.equal(secretLogicalId('svc.ci@x'), 'UserSecretsvccix' + secretLogicalId('svc.ci@x').slice(-8));
    assert.notEqual(secretLogicalId('a.b'), secretLogicalId('ab'));
    assert.deepEqual(Object.keys(template.findResources('AWS::SecretsManager::Secret')).sort(), [ALICE, BOB].sort());
  });

  it('keeps every secret (and its schedule) when users are reordered, added or removed', () => {
    const resourcesOf = (t: Template, type: string) => t.findResources(type);
    const reordered = synthStack({
      ...BASE_CONFIG,
      users: [{ name: 'carol' }, BASE_CONFIG.users[1], BASE_CONFIG.users[0]],
    }).template;
    const secrets = resourcesOf(template, 'AWS::SecretsManager::Secret');
    const after = resourcesOf(reordered, 'AWS::SecretsManager::Secret');
    assert.deepEqual(after[ALICE], secrets[ALICE]);
    assert.deepEqual(after[BOB], secrets[BOB]);
    assert.ok(after[secretLogicalId('carol')]);
    const schedules = Object.keys(resourcesOf(template, 'AWS::SecretsManager::RotationSchedule'));
    const schedulesAfter = Object.keys(resourcesOf(reordered, 'AWS::SecretsManager::RotationSchedule'));
    for (const id of schedules) assert.ok(schedulesAfter.includes(id), `schedule ${id} kept`);
    const fewer = synthStack({ ...BASE_CONFIG, users: [BASE_CONFIG.users[1]] }).template;
    assert.deepEqual(resourcesOf(fewer, 'AWS::SecretsManager::Secret')[BOB], secrets[BOB]);
    for (const type of ['AWS::KMS::Key', 'AWS::SNS::Topic', 'AWS::Logs::LogGroup']) {
      assert.deepEqual(Object.keys(resourcesOf(fewer, type)), Object.keys(resourcesOf(template, type)));
    }
  });
});

describe('quotas', () => {
  it('keeps the role policy under IAM\'s 10,240 characters with the most users and longest names', () => {
    const users = Array.from({ length: MAX_USERS }, (_, i) => ({ name: `${i}`.padStart(64, 'u') }));
    const app = testApp();
    const { template: t } = synthStack({ ...BASE_CONFIG, users, managedUserPath: '/a-long-managed/path/' }, app, 'X'.repeat(40));
    // Resolve the intrinsics to the longest values they can take.
    const resolve = (value: any): any => {
      if (Array.isArray(value)) return value.map(resolve);
      if (value === null || typeof value !== 'object') return value;
      if ('Ref' in value) {
        const pseudo: Record<string, string> = { 'AWS::Partition': 'aws-us-gov', 'AWS::AccountId': '123456789012', 'AWS::Region': 'ap-southeast-3' };
        return pseudo[value.Ref] ?? `arn:aws-us-gov:secretsmanager:ap-southeast-3:123456789012:secret:${'X'.repeat(40)}/${'u'.repeat(64)}-AbCdEf`;
      }
      if ('Fn::GetAtt' in value) return `arn:aws-us-gov:lambda:ap-southeast-3:123456789012:function:${'X'.repeat(64)}`;
      if ('Fn::Join' in value) return resolve(value['Fn::Join'][1]).join(value['Fn::Join'][0]);
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v)]));
    };
    const { resource } = only(t, 'AWS::IAM::Policy');
    const size = JSON.stringify(resolve(resource.Properties.PolicyDocument)).length;
    assert.ok(size < 10_240, `policy of ${size} characters`);
    const rule = only(t, 'AWS::Events::Rule').resource;
    assert.ok(JSON.stringify(resolve(rule.Properties.EventPattern)).length < 4_096);
  });
});

describe('synthesis', () => {
  it('raises no CDK warning or error', () => {
    const annotations = Annotations.fromStack(stack);
    assert.deepEqual(annotations.findWarning('*', Match.anyValue()), []);
    assert.deepEqual(annotations.findError('*', Match.anyValue()), []);
  });
});
