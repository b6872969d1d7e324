/** The CloudFormation stack of the IAM access key rotator: it turns a validated configuration into a Rotator. */
import { Duration, Stack, type StackProps } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { RotatorConfig } from './config';
import { Rotator } from './rotator';

/** The properties of a RotatorStack. */
export interface RotatorStackProps extends StackProps {
  /** The validated configuration. */
  readonly config: RotatorConfig;
  /** Path of the Lambda deployment zip, already resolved by the app. */
  readonly codePath: string;
}

/** The stack that holds one Rotator. */
export class RotatorStack extends Stack {
  /** The rotator deployed by this stack. */
  readonly rotator: Rotator;

  constructor(scope: Construct, id: string, props: RotatorStackProps) {
    super(scope, id, props);
    const { config } = props;
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
      customerManagedKey: config.customerManagedKey,
      secretWriterArns: config.secretWriterArns,
      operatorPrincipalArns: config.operatorPrincipalArns,
    });
  }
}
