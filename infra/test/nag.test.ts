/** cdk-nag tests: the stack passes the AWS Solutions checks, each acknowledgement is a real one with a reason, and the checks do run. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Stack, Validations } from 'aws-cdk-lib';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { BASE_CONFIG, synthStack, testApp } from './support/fixtures';

/** The acknowledgements recorded on the constructs of a scope, by rule id. */
function acknowledgements(scope: Stack): Map<string, string> {
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

  it('acknowledge only the two IAM5 wildcards, each with its reason', () => {
    const { stack } = synthStack();
    const acks = acknowledgements(stack);
    assert.deepEqual([...acks.keys()].sort(), [
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:user/rotated/*]',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:identity/*]',
    ]);
    for (const reason of acks.values()) assert.ok(reason.length > 80, reason);
    // They sit on the function's policy, not on the stack.
    const policy = stack.rotator.policy;
    assert.ok(policy.node.metadata.some((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY));
    assert.ok(!stack.node.metadata.some((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY));
  });

  it('acknowledge no SES wildcard when there is no sender', () => {
    const { stack } = synthStack({ users: [{ name: 'alice' }] });
    assert.deepEqual([...acknowledgements(stack).keys()], [
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:user/rotated/*]',
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
