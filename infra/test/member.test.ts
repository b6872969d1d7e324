/** Tests of the organization setup: the member stack's role and trust policy, the StackSet that rolls it out, the central role's AssumeRole grant, and the secrets of users in member accounts. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { CENTRAL_ROLE_PARAMETER, MEMBER_ROLE_LOGICAL_ID, MemberStack, memberTemplate } from '../lib/member-stack';
import { secretLogicalId } from '../lib/rotator';
import { shardId, shardOf } from '../lib/shards';
import { BASE_CONFIG, synthStack, testApp } from './support/fixtures';

const partition = { Ref: 'AWS::Partition' };
const account = { Ref: 'AWS::AccountId' };
const join = (...parts: unknown[]) => ({ 'Fn::Join': ['', parts] });
const CENTRAL_ROLE = 'arn:aws:iam::999988887777:role/IamKeyRotator-RotatorFunctionRole46F50AFB-AbCdEf';
const ORGANIZATION = { id: 'o-a1b2c3d4e5', organizationalUnits: ['ou-ab12-11111111', 'r-ab12'] };

/** A member stack synthesized on its own, with cdk-nag. */
function memberStack(props: { externalId?: string; roleName?: string } = {}) {
  const app = testApp();
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const stack = new MemberStack(app, 'IamKeyRotatorMember', {
    centralRoleArn: CENTRAL_ROLE,
    roleName: props.roleName ?? 'IamKeyRotatorMember',
    externalId: props.externalId,
    deploymentUserPath: '/rotated/IamKeyRotator/',
  });
  const assembly = app.synth();
  return { stack, template: Template.fromStack(stack).toJSON(), artifact: assembly.getStackArtifact(stack.artifactId) };
}

/** The statements of the central function's policy, by Sid. */
function functionStatements(template: Template): Record<string, any> {
  const [policy] = Object.values(template.findResources('AWS::IAM::Policy')) as any[];
  return Object.fromEntries(policy.Properties.PolicyDocument.Statement.map((s: any) => [s.Sid, s]));
}

/** The acknowledgements recorded on the constructs of a scope, by rule id. */
function acknowledgements(scope: IConstruct): Map<string, string> {
  const found = new Map<string, string>();
  for (const construct of scope.node.findAll()) {
    for (const entry of construct.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) found.set(id.replace(/^annotation::/i, ''), reason);
    }
  }
  return found;
}

describe('the member stack', () => {
  it('holds the member role only, under a fixed logical id and the configured name, needing no bootstrap', () => {
    const { template } = memberStack({ roleName: 'KeyRotatorMember' });
    assert.deepEqual(Object.keys(template.Resources), [MEMBER_ROLE_LOGICAL_ID]);
    const role = template.Resources[MEMBER_ROLE_LOGICAL_ID];
    assert.equal(role.Type, 'AWS::IAM::Role');
    assert.equal(role.Properties.RoleName, 'KeyRotatorMember');
    assert.equal(role.Properties.ManagedPolicyArns, undefined);
    // No CDK bootstrap version check: member accounts need not be bootstrapped.
    assert.equal(template.Parameters, undefined);
    assert.equal(template.Rules, undefined);
  });

  it('is deployed with the caller\'s credentials: the manifest names no bootstrap role for the CLI to assume or pass', () => {
    // BootstraplessSynthesizer() named cdk-hnb659fds-deploy-role and cdk-hnb659fds-cfn-exec-role here, and
    // CloudFormation refuses an execution role that does not exist (aws/aws-cdk#20648).
    const { artifact } = memberStack();
    assert.equal(artifact.assumeRoleArn, undefined);
    assert.equal(artifact.cloudFormationExecutionRoleArn, undefined);
    assert.equal(artifact.lookupRole, undefined);
  });

  it('sends its template inline: the manifest registers no template asset, so no bootstrap bucket is needed', () => {
    // CliCredentialsStackSynthesizer registered the template as a file asset (stackTemplateAssetObjectUrl), which
    // `cdk deploy` uploads to the bootstrap bucket: "No bucket named 'cdk-hnb659fds-assets-...'. Is account ...
    // bootstrapped?" (aws/aws-cdk#20648). A template under 51,200 bytes goes as TemplateBody instead.
    const app = testApp();
    const stack = new MemberStack(app, 'IamKeyRotatorMember', {
      centralRoleArn: CENTRAL_ROLE,
      roleName: 'IamKeyRotatorMember',
      deploymentUserPath: '/rotated/IamKeyRotator/',
      operatorPrincipalArns: ['arn:aws:iam::999988887777:role/security-operators'],
    });
    const assembly = app.synth();
    const artifact = assembly.getStackArtifact(stack.artifactId);
    assert.equal(artifact.stackTemplateAssetObjectUrl, undefined);
    assert.deepEqual(
      assembly.artifacts.filter((a) => a.manifest.type === 'cdk:asset-manifest').map((a) => a.id),
      [],
      'no asset manifest to publish',
    );
    assert.equal(artifact.dependencies.length, 0);
    assert.equal(artifact.assumeRoleArn, undefined);
    assert.equal(artifact.cloudFormationExecutionRoleArn, undefined);
    assert.equal(artifact.lookupRole, undefined);
    assert.ok(JSON.stringify(artifact.template).length < 51_200, 'inline: under the TemplateBody quota');
  });

  it('trusts only the central function\'s role, by ARN, without a condition when no external id is configured', () => {
    const { template } = memberStack();
    assert.deepEqual(template.Resources[MEMBER_ROLE_LOGICAL_ID].Properties.AssumeRolePolicyDocument, {
      Version: '2012-10-17',
      Statement: [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { AWS: CENTRAL_ROLE } }],
    });
  });

  it('requires the external id when one is configured', () => {
    const { template } = memberStack({ externalId: 'rotator-7f3a' });
    assert.deepEqual(template.Resources[MEMBER_ROLE_LOGICAL_ID].Properties.AssumeRolePolicyDocument.Statement, [
      {
        Action: 'sts:AssumeRole',
        Effect: 'Allow',
        Principal: { AWS: CENTRAL_ROLE },
        Condition: { StringEquals: { 'sts:ExternalId': 'rotator-7f3a' } },
      },
    ]);
  });

  it('grants exactly the central role\'s statements on the users: the same actions, user path and tag-key condition', () => {
    const { template } = memberStack();
    const [policy, ...others] = template.Resources[MEMBER_ROLE_LOGICAL_ID].Properties.Policies;
    assert.deepEqual(others, []);
    const central = functionStatements(synthStack(BASE_CONFIG, undefined, 'IamKeyRotator').template);
    assert.deepEqual(policy.PolicyDocument.Statement, [central.ManageAccessKeysOfManagedUsers, central.TagManagedUsersWithRotatorKeysOnly]);
    assert.deepEqual(policy.PolicyDocument.Statement[0].Resource, join('arn:', partition, ':iam::', account, ':user/rotated/IamKeyRotator/*'));
    assert.deepEqual(policy.PolicyDocument.Statement[1].Condition, {
      'ForAllValues:StringLike': { 'aws:TagKeys': 'rotator:*' },
      Null: { 'aws:TagKeys': 'false' },
    });
  });

  it('passes cdk-nag with the user path as its only, justified, acknowledgement', () => {
    const { stack } = memberStack();
    const acks = acknowledgements(stack);
    assert.deepEqual([...acks.keys()], ['AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:user/rotated/IamKeyRotator/*]']);
    assert.ok([...acks.values()][0].length > 80);
  });

  it('takes the central role\'s ARN as a checked parameter in the StackSet template', () => {
    const template = memberTemplate({ roleName: 'IamKeyRotatorMember', deploymentUserPath: '/rotated/IamKeyRotator/' });
    assert.deepEqual(Object.keys(template.Parameters), [CENTRAL_ROLE_PARAMETER]);
    const pattern = new RegExp(template.Parameters[CENTRAL_ROLE_PARAMETER].AllowedPattern);
    assert.ok(pattern.test(CENTRAL_ROLE));
    assert.ok(pattern.test('arn:aws-cn:iam::999988887777:role/path/Name'));
    assert.ok(!pattern.test('arn:aws:iam::999988887777:user/alice'));
    assert.ok(!pattern.test('*'));
    assert.deepEqual(template.Resources[MEMBER_ROLE_LOGICAL_ID].Properties.AssumeRolePolicyDocument.Statement[0].Principal, {
      AWS: { Ref: CENTRAL_ROLE_PARAMETER },
    });
  });
});

describe('the central stack with users in named member accounts', () => {
  const fields = {
    ...BASE_CONFIG,
    users: [...BASE_CONFIG.users, { name: 'alice', account: '444455556666' }, { name: 'carol', account: '111122223333' }],
    memberExternalId: 'rotator-7f3a',
  };
  const { stack, template } = synthStack(fields);
  const variables = (t: Template) => (Object.values(t.findResources('AWS::Lambda::Function'))[0] as any).Properties.Environment.Variables;

  it('may assume exactly the member role of each named account', () => {
    assert.deepEqual(functionStatements(template).AssumeMemberRoles, {
      Sid: 'AssumeMemberRoles',
      Effect: 'Allow',
      Action: 'sts:AssumeRole',
      Resource: ['111122223333', '444455556666'].map((id) => join('arn:', partition, `:iam::${id}:role/IamKeyRotatorMember`)),
    });
    assert.equal(functionStatements(template).AssumeMemberRolesInOrganization, undefined);
    template.resourceCountIs('AWS::CloudFormation::StackSet', 0);
    assert.equal(stack.memberRoles, undefined, 'no StackSet stack: the member roles are deployed per account');
  });

  it('tells the function the member role\'s name and the external id', () => {
    const env = variables(template);
    assert.equal(env.ROTATOR_MEMBER_ROLE_NAME, 'IamKeyRotatorMember');
    assert.equal(env.ROTATOR_MEMBER_EXTERNAL_ID, 'rotator-7f3a');
    const renamed = synthStack({ ...fields, memberRoleName: 'KeyRotatorMember', memberExternalId: undefined }).template;
    assert.equal(variables(renamed).ROTATOR_MEMBER_ROLE_NAME, 'KeyRotatorMember');
    assert.equal(variables(renamed).ROTATOR_MEMBER_EXTERNAL_ID, undefined);
    assert.deepEqual(functionStatements(renamed).AssumeMemberRoles.Resource[0], join('arn:', partition, ':iam::111122223333:role/KeyRotatorMember'));
  });

  it('names each member user\'s secret <stack>/<account>/<user> and stores AccountId, apart from a namesake of this account', () => {
    const shardOfKey = (key: string) => Template.fromStack(stack.rotator.shards.get(shardOf(key))!);
    const member = shardOfKey('444455556666/alice').findResources('AWS::SecretsManager::Secret')[secretLogicalId('444455556666/alice')];
    assert.equal(member.Properties.Name, 'TestRotator/444455556666/alice');
    assert.deepEqual(JSON.parse(member.Properties.SecretString), { UserName: 'alice', AccountId: '444455556666' });
    const local = shardOfKey('alice').findResources('AWS::SecretsManager::Secret')[secretLogicalId('alice')];
    assert.equal(local.Properties.Name, 'TestRotator/alice');
    assert.deepEqual(JSON.parse(local.Properties.SecretString), { UserName: 'alice' });
    assert.notEqual(secretLogicalId('444455556666/alice'), secretLogicalId('alice'));
    assert.deepEqual([...stack.rotator.secrets.keys()].sort(), ['111122223333/carol', '444455556666/alice', 'alice', 'bob']);
    assert.equal(shardId(shardOf('444455556666/alice')), stack.rotator.shards.get(shardOf('444455556666/alice'))!.node.id);
  });

  it('keeps the secrets of users without an account where they were', () => {
    const before = synthStack(BASE_CONFIG).stack;
    for (const name of ['alice', 'bob']) {
      const id = secretLogicalId(name);
      const was = Template.fromStack(before.rotator.shards.get(shardOf(name))!).findResources('AWS::SecretsManager::Secret')[id];
      const now = Template.fromStack(stack.rotator.shards.get(shardOf(name))!).findResources('AWS::SecretsManager::Secret')[id];
      assert.deepEqual(now, was, name);
    }
  });

  it('passes cdk-nag', () => {
    const app = testApp();
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    synthStack(fields, app);
    assert.deepEqual(new AwsSolutionsChecks().validateScope(app).violations, []);
  });
});

describe('the central stack without member accounts', () => {
  it('has no AssumeRole grant, no member variables and no StackSet', () => {
    const { template } = synthStack(BASE_CONFIG);
    const statements = functionStatements(template);
    assert.ok(!JSON.stringify(statements).includes('sts:AssumeRole'));
    const env = (Object.values(template.findResources('AWS::Lambda::Function'))[0] as any).Properties.Environment.Variables;
    assert.equal(env.ROTATOR_MEMBER_ROLE_NAME, undefined);
    template.resourceCountIs('AWS::CloudFormation::StackSet', 0);
    assert.equal(synthStack(BASE_CONFIG).stack.memberRoles, undefined);
  });
});

describe('the central stack with an organization', () => {
  const fields = {
    ...BASE_CONFIG,
    users: [...BASE_CONFIG.users, { name: 'dave', account: '444455556666' }],
    memberExternalId: 'rotator-7f3a',
    organization: ORGANIZATION,
  };
  const { stack, template } = synthStack(fields);
  const memberRoles = Template.fromStack(stack.memberRoles!);
  const stackSet = (Object.values(memberRoles.findResources('AWS::CloudFormation::StackSet')) as any[])[0];
  const roleLogicalId = stack.resolve((stack.rotator.role.node.defaultChild as any).logicalId);

  it('may assume the member role in the accounts of those units of the organization only', () => {
    assert.deepEqual(functionStatements(template).AssumeMemberRolesInOrganization, {
      Sid: 'AssumeMemberRolesInOrganization',
      Effect: 'Allow',
      Action: 'sts:AssumeRole',
      Resource: join('arn:', partition, ':iam::*:role/IamKeyRotatorMember'),
      Condition: {
        StringEquals: { 'aws:ResourceOrgID': 'o-a1b2c3d4e5' },
        'ForAnyValue:StringLike': { 'aws:ResourceOrgPaths': ['o-a1b2c3d4e5/*/ou-ab12-11111111/*', 'o-a1b2c3d4e5/r-ab12/*'] },
      },
    });
    assert.equal(functionStatements(template).AssumeMemberRoles, undefined);
  });

  it('rolls the member role out with a service-managed StackSet that deploys to new accounts of the units', () => {
    assert.equal(stackSet.Properties.PermissionModel, 'SERVICE_MANAGED');
    assert.deepEqual(stackSet.Properties.AutoDeployment, { Enabled: true, RetainStacksOnAccountRemoval: false });
    assert.deepEqual(stackSet.Properties.StackInstancesGroup, [
      { DeploymentTargets: { OrganizationalUnitIds: ['ou-ab12-11111111', 'r-ab12'] }, Regions: [{ Ref: 'AWS::Region' }] },
    ]);
    assert.deepEqual(stackSet.Properties.Capabilities, ['CAPABILITY_NAMED_IAM']);
    assert.equal(stackSet.Properties.CallAs, 'SELF');
    assert.equal(stackSet.Properties.StackSetName, 'TestRotator-MemberRole');
    assert.deepEqual(stackSet.Properties.ManagedExecution, { Active: true });
  });

  it('keeps the StackSet out of the central stack, in a stack of its own that the central stack never waits for', () => {
    // Inside the central stack, a StackSet operation that ended FAILED rolled back the function and the secrets.
    template.resourceCountIs('AWS::CloudFormation::StackSet', 0);
    assert.equal(stack.memberRoles!.stackName, 'TestRotatorMemberRoles');
    assert.deepEqual(
      stack.memberRoles!.dependencies.map((s) => s.stackName),
      ['TestRotator'],
      'the member roles stack is deployed after the central one',
    );
    assert.deepEqual(stack.dependencies, [], 'the central stack depends on nothing');
  });

  it('tolerates a failure in every account, so that one refusing account fails neither the operation nor the stack', () => {
    // 10 % rounded down to zero accounts for a unit of fewer than ten: one existing role failed the whole rollout.
    assert.deepEqual(stackSet.Properties.OperationPreferences, {
      FailureTolerancePercentage: 100,
      MaxConcurrentPercentage: 25,
      RegionConcurrencyType: 'PARALLEL',
    });
  });

  it('passes the function\'s role to the member template, which requires the external id', () => {
    const [parameter] = stackSet.Properties.Parameters;
    assert.equal(parameter.ParameterKey, CENTRAL_ROLE_PARAMETER);
    // A strong cross-stack reference, although cdk.json's defaultCrossStackReferences is weak: an export that the
    // central stack cannot change or remove while this stack imports it (Fn::GetStackOutput would not update the
    // StackSet when the role changed).
    assert.equal(JSON.stringify(stackSet).includes('Fn::GetStackOutput'), false);
    const exportName = parameter.ParameterValue['Fn::ImportValue'];
    const exported = Object.values(template.toJSON().Outputs).find((o: any) => o.Export?.Name === exportName) as any;
    assert.deepEqual(exported.Value, { 'Fn::GetAtt': [roleLogicalId, 'Arn'] });
    const body = JSON.parse(stackSet.Properties.TemplateBody);
    assert.deepEqual(
      body,
      memberTemplate({ roleName: 'IamKeyRotatorMember', externalId: 'rotator-7f3a', deploymentUserPath: '/rotated/TestRotator/' }),
    );
    assert.deepEqual(body.Resources[MEMBER_ROLE_LOGICAL_ID].Properties.AssumeRolePolicyDocument.Statement[0].Condition, {
      StringEquals: { 'sts:ExternalId': 'rotator-7f3a' },
    });
    assert.ok(JSON.stringify(stackSet).length < 51_200, 'within the TemplateBody quota');
  });

  it('can act as a delegated administrator', () => {
    const { stack: s } = synthStack({ ...fields, organization: { ...ORGANIZATION, callAs: 'DELEGATED_ADMIN' } });
    Template.fromStack(s.memberRoles!).hasResourceProperties('AWS::CloudFormation::StackSet', { CallAs: 'DELEGATED_ADMIN' });
  });

  it('passes cdk-nag with the member role\'s account wildcard acknowledged for its reason', () => {
    const app = testApp();
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    const { stack: s } = synthStack(fields, app);
    assert.deepEqual(new AwsSolutionsChecks().validateScope(app).violations, []);
    const reason = acknowledgements(s).get('AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::*:role/IamKeyRotatorMember]');
    assert.match(reason ?? '', /aws:ResourceOrgID and aws:ResourceOrgPaths/);
  });
});
