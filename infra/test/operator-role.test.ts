/** Tests of the operators' way into member accounts: the read-only reader role (trusted by operatorPrincipalArns) beside the member role, which trusts only the central function's role and the sweep's named principals, in the member stack and in the StackSet's template. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CENTRAL_READER_PARAMETER, CENTRAL_ROLE_PARAMETER, MEMBER_ROLE_LOGICAL_ID, MemberStack, type MemberStackProps, memberTemplate } from '../lib/member-stack';
import { READER_REPORT_ACTIONS, READER_ROLE_LOGICAL_ID, READER_USER_ACTIONS } from '../lib/operator-role';
import { IAM_USER_ACTIONS } from '../lib/user-grants';
import { BASE_CONFIG, synthStack, testApp } from './support/fixtures';

const partition = { Ref: 'AWS::Partition' };
const account = { Ref: 'AWS::AccountId' };
const join = (...parts: unknown[]) => ({ 'Fn::Join': ['', parts] });
const CENTRAL_ROLE = 'arn:aws:iam::999988887777:role/IamKeyRotator-RotatorFunctionRole46F50AFB-AbCdEf';
const OPERATOR = 'arn:aws:iam::999988887777:role/security-operators';
const SECOND_OPERATOR = 'arn:aws:iam::999988887777:user/oncall';
const SWEEPER = 'arn:aws:iam::999988887777:role/rotator-sweep';
const USERS_ARN = join('arn:', partition, ':iam::', account, ':user/rotated/IamKeyRotator/*');

/** A member stack synthesized on its own, under cdk-nag, with the given extra properties. */
function memberStack(props: Partial<MemberStackProps> = {}) {
  const app = testApp();
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const stack = new MemberStack(app, 'IamKeyRotatorMember', {
    centralRoleArn: CENTRAL_ROLE,
    roleName: 'IamKeyRotatorMember',
    deploymentUserPath: '/rotated/IamKeyRotator/',
    ...props,
  });
  app.synth();
  return { app, stack, template: Template.fromStack(stack).toJSON() };
}

/** Every action that a role's inline policies allow. */
const allowed = (role: any): string[] =>
  role.Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement)
    .filter((s: any) => s.Effect === 'Allow')
    .flatMap((s: any) => [s.Action].flat());

describe('the reader role of a member account', () => {
  const { app, template } = memberStack({ operatorPrincipalArns: [OPERATOR, SECOND_OPERATOR], readerRoleName: 'IamKeyRotatorReader' });
  const reader = template.Resources[READER_ROLE_LOGICAL_ID];

  it('is named IamKeyRotatorReader and trusts exactly the operators, by ARN', () => {
    assert.equal(reader.Type, 'AWS::IAM::Role');
    assert.equal(reader.Properties.RoleName, 'IamKeyRotatorReader');
    assert.deepEqual(reader.Properties.AssumeRolePolicyDocument.Statement, [
      { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { AWS: [OPERATOR, SECOND_OPERATOR] } },
    ]);
    assert.equal(reader.Properties.ManagedPolicyArns, undefined);
  });

  it('reads the keys, their last use and the tags of the deployment\'s users, and the credential report, and writes nothing', () => {
    const statements = reader.Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement);
    assert.deepEqual(statements, [
      { Sid: 'ReadKeysOfManagedUsers', Effect: 'Allow', Action: [...READER_USER_ACTIONS].sort(), Resource: USERS_ARN },
      { Sid: 'ReadTheCredentialReport', Effect: 'Allow', Action: [...READER_REPORT_ACTIONS].sort(), Resource: '*' },
    ]);
    for (const action of allowed(reader)) {
      assert.match(action, /^iam:(List|Get|GenerateCredentialReport)/, action);
      assert.ok(!['iam:CreateAccessKey', 'iam:UpdateAccessKey', 'iam:DeleteAccessKey', 'iam:TagUser', 'iam:UntagUser'].includes(action));
    }
  });

  it('requires the external id when one is configured, as the member role does', () => {
    const { template: t } = memberStack({ operatorPrincipalArns: [OPERATOR], externalId: 'rotator-7f3a' });
    assert.deepEqual(t.Resources[READER_ROLE_LOGICAL_ID].Properties.AssumeRolePolicyDocument.Statement[0].Condition, {
      StringEquals: { 'sts:ExternalId': 'rotator-7f3a' },
    });
  });

  it('is absent without operators', () => {
    const { template: t } = memberStack();
    assert.equal(t.Resources[READER_ROLE_LOGICAL_ID], undefined);
  });

  it('passes cdk-nag, its wildcards acknowledged', () => {
    assert.deepEqual(new AwsSolutionsChecks().validateScope(app).violations, []);
  });
});

describe('the member role beside it', () => {
  it('keeps trusting only the central function\'s role when operators are configured', () => {
    const { template } = memberStack({ operatorPrincipalArns: [OPERATOR] });
    assert.deepEqual(template.Resources[MEMBER_ROLE_LOGICAL_ID].Properties.AssumeRolePolicyDocument.Statement, [
      { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { AWS: CENTRAL_ROLE } },
    ]);
  });

  it('trusts the sweep\'s named principals too, and only them, for UpdateAccessKey from the CLI', () => {
    const { template } = memberStack({ operatorPrincipalArns: [OPERATOR], sweepPrincipalArns: [SWEEPER] });
    const member = template.Resources[MEMBER_ROLE_LOGICAL_ID];
    assert.deepEqual(member.Properties.AssumeRolePolicyDocument.Statement, [
      { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { AWS: [CENTRAL_ROLE, SWEEPER] } },
    ]);
    assert.ok(allowed(member).includes('iam:UpdateAccessKey'));
    assert.deepEqual(new Set(allowed(member)), new Set(IAM_USER_ACTIONS));
  });
});

describe('the StackSet\'s member template', () => {
  const fields = {
    ...BASE_CONFIG,
    users: [...BASE_CONFIG.users, { name: 'dave', account: '444455556666' }],
    organization: { id: 'o-a1b2c3d4e5', organizationalUnits: ['ou-ab12-11111111'] },
    operatorPrincipalArns: [OPERATOR],
    readerRoleName: 'RotatorReadOnly',
    sweepPrincipalArns: [SWEEPER],
  };

  it('holds the reader role, trusted by the operators, beside the member role, trusted by the central role and the sweep', () => {
    // The StackSet lives in the member-roles stack of its own (issue 19), beside the central one.
    const { stack } = synthStack(fields);
    assert.ok(stack.memberRoles, 'an organization gets the member-roles stack');
    const template = Template.fromStack(stack.memberRoles);
    const [stackSet] = Object.values(template.findResources('AWS::CloudFormation::StackSet')) as any[];
    const body = JSON.parse(stackSet.Properties.TemplateBody);
    assert.deepEqual(Object.keys(body.Resources).sort(), [MEMBER_ROLE_LOGICAL_ID, READER_ROLE_LOGICAL_ID].sort());
    assert.equal(body.Resources[READER_ROLE_LOGICAL_ID].Properties.RoleName, 'RotatorReadOnly');
    // The operators, and the central account's reader role (its ARN a parameter of the StackSet, a strong reference).
    assert.deepEqual(
      body.Resources[READER_ROLE_LOGICAL_ID].Properties.AssumeRolePolicyDocument.Statement.map((s: any) => s.Principal),
      [{ AWS: OPERATOR }, { AWS: { Ref: CENTRAL_READER_PARAMETER } }],
    );
    const passed = Object.fromEntries(stackSet.Properties.Parameters.map((p: any) => [p.ParameterKey, p.ParameterValue]));
    assert.ok(passed[CENTRAL_READER_PARAMETER]['Fn::ImportValue'], 'imported from the central stack');
    assert.deepEqual(
      body.Resources[MEMBER_ROLE_LOGICAL_ID].Properties.AssumeRolePolicyDocument.Statement.map((s: any) => s.Principal),
      [{ AWS: { Ref: CENTRAL_ROLE_PARAMETER } }, { AWS: SWEEPER }],
    );
    assert.deepEqual(
      body,
      memberTemplate({
        roleName: 'IamKeyRotatorMember',
        deploymentUserPath: '/rotated/TestRotator/',
        operatorPrincipalArns: [OPERATOR],
        readerRoleName: 'RotatorReadOnly',
        sweepPrincipalArns: [SWEEPER],
        centralReaderFromParameter: true,
      }),
    );
  });
});

describe("the central account's reader role", () => {
  it('is created with the operators, under the configured name, trusted by them alone, and writes nothing', () => {
    // A deployment without member accounts gets it too (readerRoleName names it).
    const { stack, template } = synthStack({ ...BASE_CONFIG, operatorPrincipalArns: [OPERATOR], readerRoleName: 'RotatorReadOnly' });
    const role = template.toJSON().Resources.CentralReaderRole;
    assert.equal(role.Properties.RoleName, 'RotatorReadOnly');
    assert.deepEqual(role.Properties.AssumeRolePolicyDocument.Statement[0].Principal, { AWS: OPERATOR });
    const actions = role.Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement.flatMap((st: any) => [st.Action].flat()));
    for (const action of ['secretsmanager:GetSecretValue', 'secretsmanager:ListSecrets', 'iam:GetCredentialReport', 'lambda:GetFunctionConfiguration']) {
      assert.ok(actions.includes(action), action);
    }
    assert.deepEqual(actions.filter((a: string) => /:(Put|Update|Create|Delete|Tag|Untag|Rotate|Invoke)/.test(a)), []);
    assert.equal(template.toJSON().Outputs.ReaderRoleArn.Value['Fn::GetAtt'][0], 'CentralReaderRole');
    assert.ok(stack.rotator.readerRole);
  });

  it('is absent without operators', () => {
    const { template } = synthStack(BASE_CONFIG);
    assert.equal(template.toJSON().Resources.CentralReaderRole, undefined);
  });

  it('is trusted by the member reader role that the member app synthesizes for an account', () => {
    const { template } = memberStack({ operatorPrincipalArns: [OPERATOR], centralReaderRoleArn: 'arn:aws:iam::123456789012:role/IamKeyRotatorReader' });
    assert.deepEqual(template.Resources[READER_ROLE_LOGICAL_ID].Properties.AssumeRolePolicyDocument.Statement[0].Principal, {
      AWS: ['arn:aws:iam::123456789012:role/IamKeyRotatorReader', OPERATOR],
    });
  });
});
