/** The CloudFormation stack of the IAM access key rotator: it turns a validated configuration into a Rotator. */
import { Duration, Stack, type StackProps } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { ConfigError, type RotatorConfig } from './config';
import { type FirstValues, pinFirstValues } from './first-values';
import { MemberRolesStack } from './member-roles-stack';
import { Rotator, boundedName } from './rotator';

/** The properties of a RotatorStack. */
export interface RotatorStackProps extends StackProps {
  /** The validated configuration. */
  readonly config: RotatorConfig;
  /** Path of the Lambda deployment zip, already resolved by the app. */
  readonly codePath: string;
  /**
   * The record of the first values already synthesized (see first-values.ts), which pins them; absent, every user's
   * first value is computed, as for a first deployment.
   */
  readonly firstValues?: FirstValues;
  /** The name of that record's file, for messages. */
  readonly firstValuesName?: string;
}

/** The stack that holds one Rotator. */
export class RotatorStack extends Stack {
  /** The rotator deployed by this stack. */
  readonly rotator: Rotator;
  /**
   * With an organization: the stack `<stack>MemberRoles`, a sibling of this one in the same app, that holds the
   * StackSet of the member role, so that no failure of the StackSet rolls this stack back.
   */
  readonly memberRoles?: MemberRolesStack;
  /** The record of first values to keep after this synthesis: this stack's users as they are now. */
  readonly firstValues: FirstValues;

  constructor(scope: Construct, id: string, props: RotatorStackProps) {
    super(scope, id, props);
    const { config } = props;
    const pinned = pinFirstValues(this.stackName, config.users, props.firstValues, props.firstValuesName ?? 'the record of first values');
    if (pinned.problems.length > 0) throw new ConfigError(props.firstValuesName ?? 'the record of first values', pinned.problems);
    this.firstValues = pinned.record;
    this.rotator = new Rotator(this, 'Rotator', {
      codePath: props.codePath,
      users: config.users,
      managedUserPath: config.managedUserPath,
      senderEmail: config.senderEmail,
      createSenderIdentity: config.createSenderIdentity,
      defaultNotifyEmails: config.defaultNotifyEmails,
      alertEmails: config.alertEmails,
      oldKeyPolicy: config.oldKeyPolicy,
      rotationInterval: Duration.days(config.rotationDays),
      testTimeout: Duration.seconds(config.testTimeoutSecs),
      architecture: config.architecture === 'x86_64' ? lambda.Architecture.X86_64 : lambda.Architecture.ARM_64,
      rotateImmediately: config.rotateImmediately,
      logRetention: config.logRetentionDays as logs.RetentionDays,
      reservedConcurrency: config.reservedConcurrency,
      grace: { grace: config.grace, graceMax: config.graceMax, usageLag: config.usageLag },
      sweepSchedule: config.sweepSchedule,
      members: {
        roleName: config.memberRoleName,
        externalId: config.memberExternalId,
        organization: config.organization,
        sweepPrincipalArns: config.sweepPrincipalArns,
        operatorPrincipalArns: config.operatorPrincipalArns,
        readerRoleName: config.readerRoleName,
      },
      firstValues: pinned.values,
      customerManagedKey: config.customerManagedKey,
      secretWriterArns: config.secretWriterArns,
      operatorPrincipalArns: config.operatorPrincipalArns,
      readerRoleName: config.readerRoleName,
      stuckAfter: config.stuckAfter,
      recoverPrincipalArns: config.recoverPrincipalArns,
      securityHubFindings: config.securityHubFindings,
    });
    if (config.organization !== undefined) {
      // A sibling in the app, not a nested stack: a nested stack's failure would roll this stack back too. It imports
      // the function role's ARN, so CDK deploys the central stack first (`cdk deploy --all`).
      this.memberRoles = new MemberRolesStack(scope, `${id}MemberRoles`, {
        // CloudFormation's 128 characters: a longer central name is shortened, with a hash of it.
        stackName: boundedName(this.stackName, 'MemberRoles', 128),
        description: `IAM access key rotator: the StackSet of the member role that ${this.stackName} assumes in the organization's accounts.`,
        env: props.env,
        centralStackName: this.stackName,
        centralRoleArn: this.rotator.role.roleArn,
        centralReaderRoleArn: this.rotator.readerRole?.roleArn,
        roleName: config.memberRoleName,
        externalId: config.memberExternalId,
        deploymentUserPath: this.rotator.deploymentUserPath,
        organization: config.organization,
        sweepPrincipalArns: config.sweepPrincipalArns,
        operatorPrincipalArns: config.operatorPrincipalArns,
        readerRoleName: config.readerRoleName,
      });
    }
  }
}
