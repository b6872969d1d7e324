/** Template tests of the sweep and the fleet's health: the schedule with its payload, role and dead-letter queue, the alarms on the function's EMF metrics, the dashboard, and the grants that the sweep needs. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CfnElement } from 'aws-cdk-lib';
import { LOGICAL_IDS, SWEEP_EVENT } from '../lib/rotator';
import { BASE_CONFIG, synthStack } from './support/fixtures';

const partition = { Ref: 'AWS::Partition' };
const account = { Ref: 'AWS::AccountId' };
const region = { Ref: 'AWS::Region' };
const join = (...parts: unknown[]) => ({ 'Fn::Join': ['', parts] });

const { stack, template } = synthStack();
const rotator = stack.rotator;
const logicalId = (construct: { node: { defaultChild?: unknown } }): string =>
  stack.resolve((construct.node.defaultChild as CfnElement).logicalId);
const FUNCTION_ID = logicalId(rotator.function);
const FUNCTION_ARN = { 'Fn::GetAtt': [FUNCTION_ID, 'Arn'] };
const SWEEP_QUEUE_ARN = { 'Fn::GetAtt': [LOGICAL_IDS.sweepDeadLetterQueue, 'Arn'] };
const SCHEDULE_NAME = rotator.sweepScheduleName;

/** The only resource of a type. */
function only(type: string, t = template): any {
  const found = Object.values(t.findResources(type));
  assert.equal(found.length, 1, `expected one ${type}, found ${found.length}`);
  return found[0];
}

/** The statements of the function's policy, by Sid. */
function functionStatements(t = template): Record<string, any> {
  const policy = only('AWS::IAM::Policy', t);
  return Object.fromEntries(policy.Properties.PolicyDocument.Statement.map((s: any) => [s.Sid, s]));
}

describe('the sweep schedule', () => {
  it('invokes the function hourly with {"Action": "sweep"}, at fixed times in UTC', () => {
    const schedule = only('AWS::Scheduler::Schedule');
    assert.equal(JSON.parse(schedule.Properties.Target.Input).Action, 'sweep');
    assert.deepEqual(JSON.parse(schedule.Properties.Target.Input), SWEEP_EVENT);
    assert.deepEqual(schedule.Properties.Target.Arn, FUNCTION_ARN);
    assert.deepEqual(
      { ...schedule.Properties, Target: undefined, Description: undefined },
      {
        Name: SCHEDULE_NAME,
        ScheduleExpression: 'rate(1 hour)',
        ScheduleExpressionTimezone: 'Etc/UTC',
        FlexibleTimeWindow: { Mode: 'OFF' },
        State: 'ENABLED',
        Target: undefined,
        Description: undefined,
      },
    );
    // In the default group, which the role's trust policy names.
    assert.equal(schedule.Properties.GroupName, undefined);
    assert.deepEqual(Object.keys(template.findResources('AWS::Scheduler::Schedule')), ['SweepSchedule']);
    assert.equal(SCHEDULE_NAME, 'TestRotator-Sweep');
  });

  it('follows sweepSchedule', () => {
    const { template: t } = synthStack({ ...BASE_CONFIG, sweepSchedule: 'cron(15 * * * ? *)' });
    t.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'cron(15 * * * ? *)' });
  });

  it('retries a few times within 15 minutes, then keeps the invocation in an encrypted, TLS-only dead-letter queue', () => {
    const { Target } = only('AWS::Scheduler::Schedule').Properties;
    assert.deepEqual(Target.RetryPolicy, { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 900 });
    assert.deepEqual(Target.DeadLetterConfig, { Arn: SWEEP_QUEUE_ARN });
    const queue = template.findResources('AWS::SQS::Queue')[LOGICAL_IDS.sweepDeadLetterQueue];
    assert.deepEqual(queue.Properties, { MessageRetentionPeriod: 1209600, SqsManagedSseEnabled: true });
    const policy = Object.values(template.findResources('AWS::SQS::QueuePolicy')).find(
      (p: any) => p.Properties.Queues[0].Ref === LOGICAL_IDS.sweepDeadLetterQueue,
    ) as any;
    // Only the TLS rule: the schedule's role sends with its own grant, and nobody else may.
    assert.deepEqual(policy.Properties.PolicyDocument.Statement, [
      {
        Action: 'sqs:*',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Resource: SWEEP_QUEUE_ARN,
      },
    ]);
  });

  it('runs with a role of its own that Scheduler of this account may assume for the schedule group "default", the form that Scheduler evaluates', () => {
    const { Target } = only('AWS::Scheduler::Schedule').Properties;
    const roleId = logicalId(rotator.sweepScheduleRole);
    assert.deepEqual(Target.RoleArn, { 'Fn::GetAtt': [roleId, 'Arn'] });
    const role = template.findResources('AWS::IAM::Role')[roleId];
    // Scheduler evaluates aws:SourceArn against the schedule group, not the schedule (EventBridge Scheduler User Guide,
    // "Cross-service confused deputy prevention"; document history, 2023-09-07): a schedule's ARN would be refused.
    assert.deepEqual(role.Properties.AssumeRolePolicyDocument.Statement, [
      {
        Action: 'sts:AssumeRole',
        Effect: 'Allow',
        Principal: { Service: 'scheduler.amazonaws.com' },
        Condition: {
          StringEquals: {
            'aws:SourceAccount': account,
            'aws:SourceArn': join('arn:', partition, ':scheduler:', region, ':', account, ':schedule-group/default'),
          },
        },
      },
    ]);
    assert.ok(!JSON.stringify(role.Properties.AssumeRolePolicyDocument).includes(':schedule/'));
    assert.equal(role.Properties.ManagedPolicyArns, undefined);
  });

  it('may invoke exactly this function (no version or alias) and fill its dead-letter queue, nothing else', () => {
    const role = template.findResources('AWS::IAM::Role')[logicalId(rotator.sweepScheduleRole)];
    assert.equal(role.Properties.Policies.length, 1);
    assert.deepEqual(role.Properties.Policies[0].PolicyDocument.Statement, [
      { Sid: 'InvokeTheRotatorFunction', Action: 'lambda:InvokeFunction', Effect: 'Allow', Resource: FUNCTION_ARN },
      { Sid: 'KeepUndeliveredSweeps', Action: 'sqs:SendMessage', Effect: 'Allow', Resource: SWEEP_QUEUE_ARN },
    ]);
    // No policy elsewhere names the schedule's role, and the function's permission stays Secrets Manager's only.
    for (const policy of Object.values(template.findResources('AWS::IAM::Policy')) as any[]) {
      assert.ok(!JSON.stringify(policy.Properties.Roles).includes(logicalId(rotator.sweepScheduleRole)));
    }
    template.resourceCountIs('AWS::Lambda::Permission', 1);
  });

  it('keeps a schedule name within Scheduler\'s 64 characters for the longest stack name, distinct per stack', () => {
    const long = `R${'x'.repeat(127)}`;
    const nameOf = (stackName: string) => {
      return synthStack({ users: [{ name: 'alice' }] }, undefined, stackName).stack.rotator.sweepScheduleName;
    };
    const a = nameOf(long);
    const b = nameOf(`${long.slice(0, 127)}y`);
    assert.ok(a.length <= 64, a);
    assert.notEqual(a, b);
  });
});

describe('the grants of the sweep', () => {
  it('lists secrets on "*", which is all that ListSecrets supports, and nothing else there', () => {
    assert.deepEqual(functionStatements().ListSecretsForTheSweep, {
      Sid: 'ListSecretsForTheSweep',
      Effect: 'Allow',
      Action: 'secretsmanager:ListSecrets',
      Resource: '*',
    });
  });

  it('reads the versions of the deployment\'s secrets under the same prefix and rotation-function condition', () => {
    const statement = functionStatements().RotateManagedSecrets;
    for (const action of ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret', 'secretsmanager:ListSecretVersionIds']) {
      assert.ok(statement.Action.includes(action), action);
    }
    assert.deepEqual(statement.Condition, { ArnEquals: { 'secretsmanager:resource/AllowRotationLambdaArn': FUNCTION_ARN } });
    assert.deepEqual(statement.Resource, join('arn:', partition, ':secretsmanager:', region, ':', account, ':secret:TestRotator/*'));
  });

  it('reads when a key was last used, and deactivates it, only for the users under the deployment\'s path', () => {
    const statement = functionStatements().ManageAccessKeysOfManagedUsers;
    assert.ok(statement.Action.includes('iam:GetAccessKeyLastUsed'));
    assert.ok(statement.Action.includes('iam:UpdateAccessKey'));
    assert.deepEqual(statement.Resource, join('arn:', partition, ':iam::', account, ':user/rotated/TestRotator/*'));
    assert.equal(statement.Condition, undefined);
  });
});

describe('the grace settings', () => {
  const variables = (fields: Record<string, unknown>) =>
    only('AWS::Lambda::Function', synthStack(fields).template).Properties.Environment.Variables;

  it('reach the function as ROTATOR_GRACE, ROTATOR_GRACE_MAX and ROTATOR_USAGE_LAG', () => {
    const env = variables({ ...BASE_CONFIG, grace: '90s', graceMax: '30m', usageLag: '0s' });
    assert.deepEqual([env.ROTATOR_OLD_KEY, env.ROTATOR_GRACE, env.ROTATOR_GRACE_MAX, env.ROTATOR_USAGE_LAG], ['grace', '90s', '30m', '0s']);
  });

  it('are left out with another old-key policy, whose sweep still reports the fleet', () => {
    const { template: t } = synthStack({ ...BASE_CONFIG, oldKeyPolicy: 'delete' });
    const env = only('AWS::Lambda::Function', t).Properties.Environment.Variables;
    assert.equal(env.ROTATOR_OLD_KEY, 'delete');
    for (const name of ['ROTATOR_GRACE', 'ROTATOR_GRACE_MAX', 'ROTATOR_USAGE_LAG']) assert.equal(env[name], undefined, name);
    t.resourceCountIs('AWS::Scheduler::Schedule', 1);
  });
});

describe('the alarms on the function\'s metrics', () => {
  const alarms = template.findResources('AWS::CloudWatch::Alarm');
  const props = (alarm: { node: { defaultChild?: unknown } }) => {
    const p = alarms[logicalId(alarm)].Properties;
    assert.ok(p.AlarmDescription.length > 40);
    return { ...p, AlarmDescription: undefined };
  };
  const DEPLOYMENT = [{ Name: 'Deployment', Value: { Ref: FUNCTION_ID } }];
  const common = {
    AlarmDescription: undefined,
    AlarmActions: [{ Ref: LOGICAL_IDS.alertTopic }],
    Namespace: 'IamKeyRotator',
    Dimensions: DEPLOYMENT,
    Threshold: 1,
    ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    TreatMissingData: 'notBreaching',
  };

  it('fire on any failed rotation step within five minutes', () => {
    assert.deepEqual(props(rotator.metricAlarms.stepFailed), {
      ...common,
      AlarmName: 'TestRotator-RotationStepFailed',
      MetricName: 'RotationStepFailed',
      Statistic: 'Sum',
      Period: 300,
      EvaluationPeriods: 1,
    });
  });

  it('fire on stuck or overdue rotations and old keys in use past the grace, from the sweep\'s hourly maxima', () => {
    for (const [alarm, metric] of [
      [rotator.metricAlarms.stuckRotations, 'StuckRotations'],
      [rotator.metricAlarms.overdueRotations, 'OverdueRotations'],
      [rotator.metricAlarms.oldKeysInUse, 'OldKeysInUse'],
    ] as const) {
      assert.deepEqual(props(alarm), {
        ...common,
        AlarmName: `TestRotator-${metric}`,
        MetricName: metric,
        Statistic: 'Maximum',
        Period: 3600,
        // Either of the last two hours: a sweep a little early or late neither hides the problem nor flaps the alarm.
        EvaluationPeriods: 2,
        DatapointsToAlarm: 1,
      });
    }
  });

  it('fire on sweep errors and on sweeps that the schedule could not deliver', () => {
    assert.deepEqual(props(rotator.metricAlarms.sweepErrors), {
      ...common,
      AlarmName: 'TestRotator-SweepErrors',
      MetricName: 'SweepErrors',
      Statistic: 'Sum',
      Period: 3600,
      EvaluationPeriods: 1,
    });
    assert.deepEqual(props(rotator.metricAlarms.missedSweeps), {
      ...common,
      AlarmName: 'TestRotator-MissedSweeps',
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [LOGICAL_IDS.sweepDeadLetterQueue, 'QueueName'] } }],
      Statistic: 'Maximum',
      Period: 300,
      EvaluationPeriods: 1,
    });
  });

  it('may use the alert key and the topic, by name and ARN', () => {
    const key = template.findResources('AWS::KMS::Key')[LOGICAL_IDS.alertKey].Properties.KeyPolicy.Statement.find((s: any) => s.Sid === 'AllowAlarmsToEncryptAlerts');
    const named = key.Condition.ArnEquals['aws:SourceArn'].map((arn: any) => arn['Fn::Join'][1].at(-1));
    for (const alarm of Object.values(rotator.metricAlarms)) {
      assert.ok(named.includes(`:alarm:${alarms[logicalId(alarm)].Properties.AlarmName}`), logicalId(alarm));
    }
    const topic = only('AWS::SNS::TopicPolicy').Properties.PolicyDocument.Statement.find((s: any) => s.Sid === 'AllowRotatorAlarms');
    for (const alarm of Object.values(rotator.metricAlarms)) {
      assert.ok(topic.Condition.ArnEquals['aws:SourceArn'].some((arn: any) => arn['Fn::GetAtt'][0] === logicalId(alarm)));
    }
  });
});

describe('the dashboard', () => {
  const dashboard = only('AWS::CloudWatch::Dashboard');
  // The body is a Fn::Join of literal text and the function's name; the name is replaced by a marker to read it.
  const body = JSON.parse(
    dashboard.Properties.DashboardBody['Fn::Join'][1]
      .map((part: any) => (typeof part === 'string' ? part : part.Ref === FUNCTION_ID ? 'FUNCTION' : JSON.stringify(part).replace(/"/g, "'")))
      .join(''),
  );
  const widget = (title: string) => body.widgets.find((w: any) => w.properties.title === title);
  /** The metric arrays of a graph widget as [namespace, name, dimension, value, ...] without the options object. */
  const metrics = (title: string) => widget(title).properties.metrics.map((m: any[]) => m.filter((x) => typeof x === 'string'));

  it('is named after the stack', () => {
    assert.equal(dashboard.Properties.DashboardName, 'TestRotator-Fleet');
  });

  it('graphs the step outcomes and each step\'s duration for this deployment', () => {
    assert.deepEqual(metrics('Rotation steps'), [
      ['IamKeyRotator', 'RotationStepSucceeded', 'Deployment', 'FUNCTION'],
      ['IamKeyRotator', 'RotationStepFailed', 'Deployment', 'FUNCTION'],
    ]);
    assert.deepEqual(
      metrics('Step duration, p90 (ms)'),
      ['createSecret', 'setSecret', 'testSecret', 'finishSecret'].map((step) => ['IamKeyRotator', 'StepDuration', 'Deployment', 'FUNCTION', 'Step', step]),
    );
    assert.ok(widget('Step duration, p90 (ms)').properties.metrics.every((m: any[]) => m.at(-1).stat === 'p90'));
  });

  it('graphs the fleet\'s health from each sweep', () => {
    const fleet = metrics('Fleet, per sweep').map((m: string[]) => m[1]);
    assert.deepEqual(fleet.sort(), ['KeysOlderThanInterval', 'ManagedSecrets', 'OldKeysInUse', 'OverdueRotations', 'StuckRotations']);
    assert.deepEqual(metrics('Old keys retired and sweep errors').map((m: string[]) => m[1]), ['OldKeysRetired', 'SweepErrors']);
  });

  it('shows the state of every alarm of the stack', () => {
    const shown = widget('Alarms').properties.alarms;
    assert.equal(shown.length, Object.keys(template.findResources('AWS::CloudWatch::Alarm')).length);
  });

  it('graphs only this deployment\'s metrics', () => {
    const graphs = body.widgets.filter((w: any) => w.type === 'metric');
    assert.equal(graphs.length, 4);
    for (const graph of graphs) {
      for (const metric of graph.properties.metrics) {
        assert.equal(metric[0], 'IamKeyRotator');
        assert.deepEqual(metric.slice(2, 4), ['Deployment', 'FUNCTION'], JSON.stringify(metric));
      }
    }
  });
});
