/** The stack of its own that holds the StackSet rolling the member role out to an organization's units, so that a failed stack instance can never roll back the central rotator stack. */
import { Aws, CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import * as cloudformation from 'aws-cdk-lib/aws-cloudformation';
import type { Construct } from 'constructs';
import type { OrganizationConfig } from './config';
import { CENTRAL_READER_PARAMETER, CENTRAL_ROLE_PARAMETER, memberTemplate } from './member-stack';
import { boundedName } from './rotator';

/** The properties of a MemberRolesStack. */
export interface MemberRolesStackProps extends StackProps {
  /** The name of the central stack, which names the StackSet (`<central>-MemberRole`). */
  readonly centralStackName: string;
  /** The ARN of the central function's role, which every member role trusts (a strong reference to the central stack). */
  readonly centralRoleArn: string;
  /** The ARN of the central account's reader role, which every member reader role trusts too (a strong reference). */
  readonly centralReaderRoleArn?: string;
  /** The name of the member role. */
  readonly roleName: string;
  /** The external id that the member role requires, if any. */
  readonly externalId?: string;
  /** The IAM path of the central deployment's users. */
  readonly deploymentUserPath: string;
  /** The organization and the units whose accounts get the role. */
  readonly organization: OrganizationConfig;
  /** Principals that the member role trusts besides the function's role, for the CLI's `rotator sweep`. */
  readonly sweepPrincipalArns?: readonly string[];
  /** The operators, whom the read-only role of each member account trusts. */
  readonly operatorPrincipalArns?: readonly string[];
  /** The name of that read-only role. */
  readonly readerRoleName?: string;
}

/**
 * How the StackSet's operations treat failed accounts. A CloudFormation StackSet resource waits for its operation and
 * fails when the operation ends FAILED, which it does once more accounts fail than the tolerance; the tolerance in
 * percent is rounded down, so 10 % of fewer than ten accounts is zero (CloudFormation API reference,
 * StackSetOperationPreferences). 100 % lets every account fail without failing the operation: an account where the
 * role cannot be created (it exists already, made by the per-account route; an SCP denies iam:CreateRole) shows a
 * FAILED stack instance with its reason, and neither this stack nor the central one rolls back.
 */
export const MEMBER_ROLE_OPERATION_PREFERENCES = {
  maxConcurrentPercentage: 25,
  failureTolerancePercentage: 100,
  regionConcurrencyType: 'PARALLEL',
} as const;

/**
 * The StackSet of the member role, in a stack apart from the rotator. The central stack is deployed first (this stack
 * imports its function role's ARN); whatever happens to the StackSet (trusted access not enabled, a delegated
 * administrator missing, an account that refuses the role) fails or rolls back this stack only, never the function,
 * the secrets or their schedules.
 */
export class MemberRolesStack extends Stack {
  /** The StackSet that rolls the member role out to every account of the organizational units. */
  readonly stackSet: cloudformation.CfnStackSet;

  constructor(scope: Construct, id: string, props: MemberRolesStackProps) {
    super(scope, id, props);
    const { organization } = props;
    this.stackSet = new cloudformation.CfnStackSet(this, 'MemberRoleStackSet', {
      stackSetName: boundedName(props.centralStackName, '-MemberRole', 128),
      description: `The member role ${props.roleName} of the IAM access key rotator ${props.centralStackName}.`,
      permissionModel: 'SERVICE_MANAGED',
      autoDeployment: { enabled: true, retainStacksOnAccountRemoval: false },
      callAs: organization.callAs,
      capabilities: ['CAPABILITY_NAMED_IAM'],
      managedExecution: { Active: true },
      operationPreferences: { ...MEMBER_ROLE_OPERATION_PREFERENCES },
      parameters: [
        { parameterKey: CENTRAL_ROLE_PARAMETER, parameterValue: props.centralRoleArn },
        ...(props.centralReaderRoleArn !== undefined
          ? [{ parameterKey: CENTRAL_READER_PARAMETER, parameterValue: props.centralReaderRoleArn }]
          : []),
      ],
      // IAM is global: one stack instance per account, in this stack's region.
      stackInstancesGroup: [{ deploymentTargets: { organizationalUnitIds: [...organization.organizationalUnits] }, regions: [Aws.REGION] }],
      templateBody: JSON.stringify(
        memberTemplate({
          roleName: props.roleName,
          externalId: props.externalId,
          deploymentUserPath: props.deploymentUserPath,
          sweepPrincipalArns: props.sweepPrincipalArns,
          operatorPrincipalArns: props.operatorPrincipalArns,
          readerRoleName: props.readerRoleName,
          centralReaderFromParameter: props.centralReaderRoleArn !== undefined,
        }),
      ),
    });
    // What `cargo xtask deploy` needs to list the StackSet's instances after each deployment: with a failure tolerance of
    // 100 %, the operation succeeds even when every account failed, and only the instances say which ones did.
    new CfnOutput(this, STACK_SET_OUTPUTS.name, { description: 'The StackSet of the member role.', value: this.stackSet.stackSetName! }).overrideLogicalId(
      STACK_SET_OUTPUTS.name,
    );
    new CfnOutput(this, STACK_SET_OUTPUTS.callAs, {
      description: 'How to call the StackSet API for it (--call-as).',
      value: organization.callAs,
    }).overrideLogicalId(STACK_SET_OUTPUTS.callAs);
  }
}

/** The outputs of the member-roles stack that `cargo xtask deploy` reads (xtask/src/tools.rs). */
export const STACK_SET_OUTPUTS = { name: 'MemberRoleStackSetName', callAs: 'MemberRoleStackSetCallAs' } as const;
