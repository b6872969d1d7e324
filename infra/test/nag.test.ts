/** cdk-nag tests: the stack passes the AWS Solutions checks, each acknowledgement is a real one with a reason, and the checks do run. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Stack, Validations } from 'aws-cdk-lib';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { BASE_CONFIG, synthStack, testApp } from './support/fixtures';

/** The acknowledgements recorded on the constructs of a scope, by rule id. */
function acknowledgements(scope: IConstruct): Map<string, string> {
  const found = new Map<string, string>();
  for (const construct of scope.node.findAll()) {
    for (const entry of construct.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
        found.set(id.replace(/^annotation::/i, ''), reason);
      }
    }
  }
  return found;
}

describe('cdk-nag AWS Solutions checks', () => {
  for (const [label, fields] of [
    ['the full configuration', BASE_CONFIG],
    ['a configuration without sender', { users: [{ name: 'alice' }], managedUserPath: '/svc/rotated/' }],
  ] as const) {
    it(`find nothing unacknowledged in ${label}`, () => {
      const app = testApp();
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
      // The plugin runs during synthesis and throws on any unacknowledged error or warning.
      const { stack } = synthStack(fields, app);
      const report = new AwsSolutionsChecks().validateScope(app);
      assert.deepEqual(report.violations, []);
      assert.equal(report.success, true);
      assert.ok(stack.templateFile);
    });
  }

  it('acknowledge only the four IAM5 wildcards and the dead-letter queues\' own DLQ, each with its reason', () => {
    const { stack } = synthStack();
    const acks = acknowledgements(stack);
    assert.deepEqual([...acks.keys()].sort(), [
      'AwsSolutions-IAM5[Resource::*]',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:user/rotated/TestRotator/*]',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:TestRotator/*]',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:identity/*]',
      'AwsSolutions-SQS3',
    ]);
    for (const reason of acks.values()) assert.ok(reason.length > 80, reason);
    // They sit on the function's policy and on the queue, not on the stack.
    const onPolicy = acknowledgements(stack.rotator.policy);
    assert.equal(onPolicy.size, 4);
    for (const queue of [stack.rotator.deadLetterQueue, stack.rotator.sweepDeadLetterQueue]) {
      assert.deepEqual([...acknowledgements(queue).keys()], ['AwsSolutions-SQS3']);
    }
    // ListSecrets is acknowledged for the reason that it has no resource-level permission.
    assert.match(acks.get('AwsSolutions-IAM5[Resource::*]')!, /ListSecrets.*supports no resource-level permission/);
    assert.ok(!stack.node.metadata.some((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY));
    // The nested stacks of secrets need none.
    for (const shard of stack.rotator.shards.values()) assert.equal(acknowledgements(shard).size, 0);
  });

  it('acknowledge no SES wildcard when there is no sender', () => {
    const { stack } = synthStack({ users: [{ name: 'alice' }] });
    assert.deepEqual([...acknowledgements(stack).keys()].sort(), [
      'AwsSolutions-IAM5[Resource::*]',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:user/rotated/TestRotator/*]',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:TestRotator/*]',
      'AwsSolutions-SQS3',
    ]);
  });

  it('do run: an unencrypted topic without TLS enforcement fails synthesis', () => {
    const app = testApp();
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    const stack = new Stack(app, 'Control');
    new sns.Topic(stack, 'Plain');
    let reportPath = '';
    assert.throws(
      () => app.synth(),
      (error: Error) => {
        reportPath = /found in: (\S+)/.exec(error.message)?.[1] ?? '';
        return /Validation failed/.test(error.message);
      },
    );
    const report = readFileSync(reportPath, 'utf8');
    assert.match(report, /AwsSolutions-SNS3/);
    assert.match(report, /Control\/Plain\/Resource/);
  });
});
