/** The Rotator construct: the rotation Lambda, its least-privilege role, one rotated secret per managed user, and the alerting around them. */
import { createHash } from 'node:crypto';
import { Aws, CfnOutput, Duration, SecretValue, Stack, Tags, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as ses from 'aws-cdk-lib/aws-ses';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import type { ManagedUser, OldKeyPolicy } from './config';

/** The properties of a Rotator. */
export interface RotatorProps {
  /** Path of the deployment zip that holds the `bootstrap` executable (`cargo xtask build` writes it). */
  readonly codePath: string;
  /** The IAM users whose access keys are rotated; one secret is created for each. */
  readonly users: readonly ManagedUser[];
  /** The IAM path under which every managed user lives, such as "/rotated/". */
  readonly managedUserPath: string;
  /** The verified SES sender of the success emails; without it no email is sent. */
  readonly senderEmail?: string;
  /** Whether to create the SES email identity of the sender (false when it already exists in the account). */
  readonly createSenderIdentity?: boolean;
  /** Who receives the success email of a secret that has no NotifyEmail tag. */
  readonly defaultNotifyEmails?: readonly string[];
  /** The addresses subscribed to the alert topic. */
  readonly alertEmails?: readonly string[];
  /** What finishSecret does with the previous key. */
  readonly oldKeyPolicy?: OldKeyPolicy;
  /** How often each secret rotates. */
  readonly rotationInterval?: Duration;
  /** How long testSecret waits for a new key to propagate through IAM. */
  readonly testTimeout?: Duration;
  /** The architecture that the artifact was built for. */
  readonly architecture?: lambda.Architecture;
  /** Whether creating (or changing) a rotation schedule starts a rotation at once. */
  readonly rotateImmediately?: boolean;
  /** How long the function's logs are kept. */
  readonly logRetention?: logs.RetentionDays;
  /** Reserved concurrency of the function; unreserved when absent. */
  readonly reservedConcurrency?: number;
}

/** The time that the function gets beyond the testSecret budget, for the other API calls of a step. */
export const TIMEOUT_MARGIN = Duration.seconds(60);

/** The IAM actions that the function needs on each managed user. */
export const IAM_USER_ACTIONS = [
  'iam:ListAccessKeys',
  'iam:CreateAccessKey',
  'iam:UpdateAccessKey',
  'iam:DeleteAccessKey',
  'iam:TagUser',
  'iam:UntagUser',
  'iam:ListUserTags',
];

/** The Secrets Manager actions that a rotation function needs on the secrets it rotates. */
export const SECRET_ACTIONS = [
  'secretsmanager:DescribeSecret',
  'secretsmanager:GetSecretValue',
  'secretsmanager:PutSecretValue',
  'secretsmanager:UpdateSecretVersionStage',
];

/**
 * The logical id of a user's secret. It is derived from the user name alone, so that reordering, adding or
 * removing other users never replaces a secret; the hash keeps names that differ only in punctuation apart.
 */
export function secretLogicalId(userName: string): string {
  const alphanumeric = userName.replace(/[^A-Za-z0-9]/g, '');
  const hash = createHash('sha256').update(userName.toLowerCase()).digest('hex').slice(0, 8).toUpperCase();
  return `UserSecret${alphanumeric}${hash}`;
}

/** The fixed logical ids of the other stateful resources, kept stable across refactorings of the construct tree. */
export const LOGICAL_IDS = {
  alertKey: 'AlertTopicKey',
  alertTopic: 'AlertTopic',
  logGroup: 'RotatorLogGroup',
} as const;

/** Deploys the IAM access key rotator for a fixed set of users. */
export class Rotator extends Construct {
  /** The rotation Lambda function. */
  readonly function: lambda.Function;
  /** The function's execution role. */
  readonly role: iam.Role;
  /** The only permissions of that role. */
  readonly policy: iam.Policy;
  /** The SNS topic that receives failure alerts. */
  readonly alertTopic: sns.Topic;
  /** The customer-managed KMS key that encrypts the alert topic. */
  readonly alertKey: kms.Key;
  /** The function's log group. */
  readonly logGroup: logs.LogGroup;
  /** Each managed user's secret, by user name. */
  readonly secrets: ReadonlyMap<string, secretsmanager.Secret>;
  /** The EventBridge rule that forwards failed and abandoned rotations to the alert topic. */
  readonly rotationFailureRule: events.Rule;
  /** The alarm on the function's Errors metric. */
  readonly errorsAlarm: cloudwatch.Alarm;
  /** The SES identity of the sender, when this construct creates it. */
  readonly senderIdentity?: ses.EmailIdentity;

  constructor(scope: Construct, id: string, props: RotatorProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const testTimeout = props.testTimeout ?? Duration.seconds(60);
    const alertEmails = props.alertEmails ?? [];
    const defaultNotifyEmails = props.defaultNotifyEmails ?? [];

    // The alert topic is encrypted with a customer-managed key rather than alias/aws/sns: the AWS-managed
    // key's policy cannot be changed, so neither EventBridge nor CloudWatch alarms could publish to the
    // topic. This key's policy lets exactly those two services (and, through IAM, the function) use it.
    this.alertKey = new kms.Key(this, 'AlertTopicKey', {
      description: 'Encrypts the alert topic of the IAM access key rotator.',
      enableKeyRotation: true,
    });
    (this.alertKey.node.defaultChild as kms.CfnKey).overrideLogicalId(LOGICAL_IDS.alertKey);
    this.alertKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowAlertPublishersToEncrypt',
        principals: [
          new iam.ServicePrincipal('events.amazonaws.com'),
          new iam.ServicePrincipal('cloudwatch.amazonaws.com'),
        ],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
      }),
    );

    this.alertTopic = new sns.Topic(this, 'AlertTopic', {
      displayName: 'IAM access key rotator alerts',
      masterKey: this.alertKey,
      enforceSSL: true,
    });
    (this.alertTopic.node.defaultChild as sns.CfnTopic).overrideLogicalId(LOGICAL_IDS.alertTopic);
    for (const email of alertEmails) {
      this.alertTopic.addSubscription(new subscriptions.EmailSubscription(email));
    }

    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
    });
    (this.logGroup.node.defaultChild as logs.CfnLogGroup).overrideLogicalId(LOGICAL_IDS.logGroup);

    // The role starts empty: no AWS-managed policy, and its only permissions are the statements of
    // this.policy below, each scoped to the resources of this deployment.
    this.role = new iam.Role(this, 'FunctionRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Execution role of the IAM access key rotator.',
    });

    const environment: Record<string, string> = {
      ROTATOR_ALERT_TOPIC_ARN: this.alertTopic.topicArn,
      ROTATOR_OLD_KEY: props.oldKeyPolicy ?? 'delete',
      ROTATOR_TEST_TIMEOUT_SECS: String(testTimeout.toSeconds()),
    };
    if (props.senderEmail !== undefined) environment.ROTATOR_SENDER_EMAIL = props.senderEmail;
    if (defaultNotifyEmails.length > 0) environment.ROTATOR_DEFAULT_NOTIFY_EMAIL = defaultNotifyEmails.join(',');

    this.function = new lambda.Function(this, 'Function', {
      description: 'Rotates the IAM access keys held in Secrets Manager secrets.',
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: props.architecture ?? lambda.Architecture.ARM_64,
      handler: 'bootstrap',
      code: lambda.Code.fromAsset(props.codePath),
      // The role is handed over read-only, so that no CDK helper can widen it behind this.policy's back.
      role: this.role.withoutPolicyUpdates(),
      memorySize: 128,
      timeout: testTimeout.plus(TIMEOUT_MARGIN),
      logGroup: this.logGroup,
      reservedConcurrentExecutions: props.reservedConcurrency,
      environment,
    });

    // CDK makes every function depend on its role explicitly, although the Role property's GetAtt already
    // orders them; cfn-lint reports that redundancy (W3005), which is harmless, on this resource only.
    (this.function.node.defaultChild as lambda.CfnFunction).addMetadata('cfn-lint', {
      config: { ignore_checks: ['W3005'] },
    });

    // Secrets Manager may invoke the function only on behalf of this account. One permission serves every
    // secret: a Lambda permission takes a single SourceArn, and the secrets are many.
    const invokePermissionId = 'AllowSecretsManagerInvoke';
    this.function.addPermission(invokePermissionId, {
      principal: new iam.ServicePrincipal('secretsmanager.amazonaws.com'),
      action: 'lambda:InvokeFunction',
      sourceAccount: stack.account,
    });
    const invokePermission = this.function.node.findChild(invokePermissionId);

    // addRotationSchedule adds its own invoke permission (without SourceAccount) and role statements
    // (including secretsmanager:GetRandomPassword on "*") when it is given a function of this stack. Given
    // this reference instead, it adds neither: the permission above and this.policy are the whole grant.
    const rotationTarget = lambda.Function.fromFunctionAttributes(this, 'RotationTarget', {
      functionArn: this.function.functionArn,
      sameEnvironment: true,
      skipPermissions: true,
    });

    // Every secret is named "<stack name>/<user name>": easy to find, and one prefix for the event rule.
    const secretNamePrefix = `${stack.stackName}/`;
    const secrets = new Map<string, secretsmanager.Secret>();
    const schedules: secretsmanager.RotationSchedule[] = [];
    for (const user of props.users) {
      const secret = new secretsmanager.Secret(this, `Secret-${user.name}`, {
        secretName: `${secretNamePrefix}${user.name}`,
        description: `IAM access key of the user ${user.name}, rotated by ${stack.stackName}.`,
        secretObjectValue: { UserName: SecretValue.unsafePlainText(user.name) },
      });
      (secret.node.defaultChild as secretsmanager.CfnSecret).overrideLogicalId(secretLogicalId(user.name));
      if (user.notifyEmails && user.notifyEmails.length > 0) {
        Tags.of(secret).add('NotifyEmail', user.notifyEmails.join(','));
      }
      schedules.push(
        secret.addRotationSchedule('Rotation', {
          rotationLambda: rotationTarget,
          automaticallyAfter: props.rotationInterval ?? Duration.days(90),
          rotateImmediatelyOnUpdate: props.rotateImmediately ?? true,
        }),
      );
      secrets.set(user.name, secret);
      new CfnOutput(this, `SecretArn-${user.name}`, {
        description: `The secret that holds the access key of ${user.name}.`,
        value: secret.secretArn,
      });
    }
    this.secrets = secrets;
    const secretArns = [...secrets.values()].map((secret) => secret.secretArn);

    const managedUsersArn = `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:user${props.managedUserPath}*`;
    const statements = [
      new iam.PolicyStatement({
        sid: 'ManageAccessKeysOfManagedUsers',
        actions: IAM_USER_ACTIONS,
        // Only users under the managed path: a user elsewhere is out of reach even if a secret names it.
        // The path, rather than a list of user ARNs, keeps this statement small, so that the policy with
        // its secret ARNs fits IAM's 10,240-character quota for a role's inline policies (see MAX_USERS).
        resources: [managedUsersArn],
      }),
      new iam.PolicyStatement({
        sid: 'RotateManagedSecrets',
        actions: SECRET_ACTIONS,
        resources: secretArns,
        // The function can touch these secrets only while it is their rotation function: a secret whose
        // rotation is pointed elsewhere is out of its reach.
        conditions: {
          StringEquals: { 'secretsmanager:resource/AllowRotationLambdaArn': this.function.functionArn },
        },
      }),
      new iam.PolicyStatement({
        sid: 'PublishAlerts',
        actions: ['sns:Publish'],
        resources: [this.alertTopic.topicArn],
      }),
      new iam.PolicyStatement({
        sid: 'EncryptAlerts',
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: [this.alertKey.keyArn],
        // Only through SNS, which needs the key to publish to the encrypted topic.
        conditions: { StringEquals: { 'kms:ViaService': `sns.${Aws.REGION}.amazonaws.com` } },
      }),
      new iam.PolicyStatement({
        sid: 'WriteOwnLogs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        // The log group's ARN attribute ends in ":*", which covers its log streams and nothing else.
        resources: [this.logGroup.logGroupArn],
      }),
    ];

    const sesIdentities = `arn:${Aws.PARTITION}:ses:${Aws.REGION}:${Aws.ACCOUNT_ID}:identity/*`;
    if (props.senderEmail !== undefined) {
      if (props.createSenderIdentity ?? true) {
        this.senderIdentity = new ses.EmailIdentity(this, 'SenderIdentity', {
          identity: ses.Identity.email(props.senderEmail),
        });
      }
      statements.push(
        new iam.PolicyStatement({
          sid: 'SendSuccessEmailsAsSender',
          actions: ['ses:SendEmail'],
          // SES authorizes a send against the sender's identity (its address or its domain) and, in the
          // SES sandbox, against every recipient's identity too; the condition pins the sender instead.
          resources: [sesIdentities],
          conditions: { StringEquals: { 'ses:FromAddress': props.senderEmail } },
        }),
      );
    }

    this.policy = new iam.Policy(this, 'FunctionPolicy', {
      roles: [this.role],
      statements,
    });
    Validations.of(this.policy).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:user${props.managedUserPath}*]`,
      reason:
        `The wildcard is the managed user path ${props.managedUserPath}: the function may manage the access ` +
        'keys of the users under that path, which exist only to be rotated, and of no other user. IAM has no ' +
        'narrower resource that stays within the inline policy quota for many users.',
    });
    if (props.senderEmail !== undefined) {
      Validations.of(this.policy).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:identity/*]',
        reason:
          `ses:SendEmail is limited by the ses:FromAddress condition to mail from ${props.senderEmail}. The ` +
          'resource must cover every identity SES checks: the sender address or its domain, and, in the SES ' +
          'sandbox, each recipient, whom the NotifyEmail tags can change without a deployment.',
      });
    }

    // A new schedule rotates at once (when rotateImmediately is set) or tests the function, so the
    // function must be invocable and fully permitted before any schedule exists.
    for (const schedule of schedules) {
      schedule.node.addDependency(invokePermission, this.policy);
    }

    // Failed and abandoned rotations of these secrets reach the alert topic even when the function cannot
    // report them itself (it timed out, could not start, or was never invoked).
    this.rotationFailureRule = new events.Rule(this, 'RotationFailureRule', {
      description: 'Forwards failed and abandoned rotations of the rotator secrets to the alert topic.',
      eventPattern: {
        source: ['aws.secretsmanager'],
        detailType: ['AWS Service Event via CloudTrail'],
        detail: {
          eventSource: ['secretsmanager.amazonaws.com'],
          eventName: ['RotationFailed', 'RotationAbandoned'],
          // A prefix rather than the list of ARNs, which would outgrow the 4,096-character pattern quota.
          additionalEventData: {
            SecretId: events.Match.prefix(
              `arn:${Aws.PARTITION}:secretsmanager:${Aws.REGION}:${Aws.ACCOUNT_ID}:secret:${secretNamePrefix}`,
            ),
          },
        },
      },
    });
    const eventName = events.EventField.fromPath('$.detail.eventName');
    const secretId = events.EventField.fromPath('$.detail.additionalEventData.SecretId');
    const errorMessage = events.EventField.fromPath('$.detail.errorMessage');
    this.rotationFailureRule.addTarget({
      bind: () => ({
        arn: this.alertTopic.topicArn,
        input: events.RuleTargetInput.fromText(
          `Secrets Manager reported ${eventName} for ${secretId}: ${errorMessage}. ` +
            'See the rotator function logs for the step that failed.',
        ),
      }),
    });
    // EventBridge may publish to the topic only for this rule (the stock SnsTopic target would allow
    // any rule of any account).
    this.alertTopic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowRotationFailureRule',
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.alertTopic.topicArn],
        conditions: { ArnEquals: { 'aws:SourceArn': this.rotationFailureRule.ruleArn } },
      }),
    );

    // The alarm catches the errors that the function cannot report itself: a crash, a timeout, or a
    // start-up configuration error.
    this.errorsAlarm = new cloudwatch.Alarm(this, 'ErrorsAlarm', {
      alarmDescription: 'The IAM access key rotator function failed; see its logs and the alert topic.',
      metric: this.function.metricErrors({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.errorsAlarm.addAlarmAction(new cloudwatchActions.SnsAction(this.alertTopic));
    // CloudWatch may publish to the topic only for this alarm of this account.
    this.alertTopic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowErrorsAlarm',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.alertTopic.topicArn],
        conditions: {
          ArnEquals: { 'aws:SourceArn': this.errorsAlarm.alarmArn },
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
        },
      }),
    );

    new CfnOutput(this, 'AlertTopicArn', {
      description: 'The SNS topic that receives rotation failure alerts.',
      value: this.alertTopic.topicArn,
    });
    new CfnOutput(this, 'FunctionName', {
      description: 'The rotation Lambda function.',
      value: this.function.functionName,
    });
  }
}
