/** Tests of scripts/granted-actions.ts, which the grant check of `cargo xtask ci` reads: the function role's actions and the member role's, found through the StackSet that trusts the function's role. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { grantedActions } from '../scripts/granted-actions';
import { BASE_CONFIG, synthStack, testApp } from './support/fixtures';

/** Synthesizes a configuration into a cloud assembly on disk, as `cdk synth` does, and returns its directory. */
function synthesized(fields: Record<string, unknown>): string {
  const app = testApp({ context: { 'aws:cdk:enable-asset-metadata': true } });
  synthStack(fields, app);
  return app.synth().directory;
}

const ORGANIZATION = { id: 'o-a1b2c3d4e5', organizationalUnits: ['ou-ab12-11111111'] };
const KEY_ACTIONS = [
  'iam:CreateAccessKey',
  'iam:DeleteAccessKey',
  'iam:GetAccessKeyLastUsed',
  'iam:ListAccessKeys',
  'iam:ListUserTags',
  'iam:TagUser',
  'iam:UntagUser',
  'iam:UpdateAccessKey',
];

describe('grantedActions', () => {
  it('lists the function role\'s actions, nested stacks included, and no member role without an organization', () => {
    const grants = grantedActions(synthesized(BASE_CONFIG));
    assert.deepEqual(grants.function, [
      ...KEY_ACTIONS,
      'kms:Decrypt',
      'kms:GenerateDataKey',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetSecretValue',
      'secretsmanager:ListSecretVersionIds',
      'secretsmanager:ListSecrets',
      'secretsmanager:PutSecretValue',
      'secretsmanager:UpdateSecretVersionStage',
      'securityhub:BatchImportFindings',
      'securityhub:GetFindings',
      'ses:SendEmail',
      'sns:Publish',
    ]);
    assert.deepEqual([grants.member, grants.memberRoles], [[], 0]);
  });

  it('grants securityhub:BatchImportFindings and GetFindings only with securityHubFindings on', () => {
    const grants = grantedActions(synthesized({ ...BASE_CONFIG, securityHubFindings: false }));
    assert.ok(!grants.function.some((action) => action.startsWith('securityhub:')), grants.function.join(', '));
  });

  it('does not count the sweep schedule\'s role, which the function does not hold', () => {
    const grants = grantedActions(synthesized(BASE_CONFIG));
    assert.ok(!grants.function.includes('lambda:InvokeFunction'));
    assert.ok(!grants.function.includes('sqs:SendMessage'));
  });

  it('finds the member role in the StackSet that trusts the function\'s role, with its IAM actions only', () => {
    const grants = grantedActions(
      synthesized({ ...BASE_CONFIG, users: [{ name: 'alice', account: '111122223333' }], organization: ORGANIZATION }),
    );
    assert.ok(grants.function.includes('sts:AssumeRole'));
    assert.equal(grants.memberRoles, 1);
    assert.deepEqual(grants.member, KEY_ACTIONS);
  });

  it('grants sts:AssumeRole for named member accounts, whose roles live outside this app', () => {
    const grants = grantedActions(synthesized({ ...BASE_CONFIG, users: [{ name: 'alice', account: '111122223333' }] }));
    assert.ok(grants.function.includes('sts:AssumeRole'));
    assert.equal(grants.memberRoles, 0);
  });
});
