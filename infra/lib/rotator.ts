/** The Rotator construct: the rotation Lambda, its least-privilege role, one rotated secret per managed user (spread over nested stacks), and the alerting around them. */
import { createHash } from 'node:crypto';
import { Aspects, Aws, CfnOutput, type CfnResource, DefaultStackSynthesizer, Duration, Fn, ReferenceStrength, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as ses from 'aws-cdk-lib/aws-ses';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DEFAULTS, type ManagedUser, type OldKeyPolicy, type OrganizationConfig } from './config';
import { METRIC_NAMESPACE, RotatorMetrics, STEP_METRICS, STEP_NAMES, STEP_PERIOD, SWEEP_METRICS, SWEEP_PERIOD } from './metrics';
import { RotatorDashboard } from './dashboard';
import { SecretShard, secretLogicalId, secretName } from './secret-shard';
import { ShardsLast } from './shards-last';
import { skipCheckov } from './checkov';
import { SecretsKey, WRITER_KEY_ACTIONS } from './secret-access';
import { READER_ROLE_LOGICAL_ID, ReaderRole, centralReaderStatements } from './operator-role';
import { SweepSchedule } from './sweep-schedule';
import { MAX_USERS_PER_SHARD, PARALLEL_SHARDS, groupByShard, shardId, userKey } from './shards';
import { IAM_KEY_ACTIONS, IAM_TAG_ACTIONS, IAM_USER_ACTIONS, ROTATOR_TAG_KEYS, deploymentUserPath, managedUserStatements } from './user-grants';

export { IAM_KEY_ACTIONS, IAM_TAG_ACTIONS, IAM_USER_ACTIONS, METRIC_NAMESPACE, ROTATOR_TAG_KEYS, STEP_NAMES, secretLogicalId, secretName };

/** How the function reaches the users of other accounts. */
export interface MemberAccess {
  /** The name of the role that the function assumes in each member account. */
  readonly roleName: string;
  /** The external id that it passes. */
  readonly externalId?: string;
  /** The organization whose organizational units get the member role from a StackSet of this stack. */
  readonly organization?: OrganizationConfig;
  /** Principals that the member role trusts besides the function's role, for the CLI's `rotator sweep`. */
  readonly sweepPrincipalArns?: readonly string[];
  /** The operators, whom the read-only role of each member account trusts. */
  readonly operatorPrincipalArns?: readonly string[];
  /** The name of that read-only role. */
  readonly readerRoleName?: string;
}

/** The properties of a Rotator. */
export interface RotatorProps {
  /** Path of the deployment zip that holds the `bootstrap` executable (`cargo xtask build` writes it). */
  readonly codePath: string;
  /** The IAM users whose access keys are rotated; one secret is created for each. */
  readonly users: readonly ManagedUser[];
  /**
   * The base IAM path of the managed users, such as "/rotated/". The users of this deployment live under
   * the base path followed by the stack name, such as "/rotated/IamKeyRotator/", and the role reaches no other.
   */
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
  /** With `grace`: ROTATOR_GRACE, ROTATOR_GRACE_MAX and ROTATOR_USAGE_LAG, durations such as "24h". */
  readonly grace?: { readonly grace: string; readonly graceMax: string; readonly usageLag: string };
  /** The EventBridge Scheduler expression of the sweep. */
  readonly sweepSchedule?: string;
  /** How the function reaches users of other accounts; needed when a user names an account. */
  readonly members?: MemberAccess;
  /** The first value of each user's secret, by user key, as pinned by first-values.ts; computed when absent. */
  readonly firstValues?: ReadonlyMap<string, string>;
  /** Whether a customer-managed key of the deployment encrypts the secrets (else aws/secretsmanager); true by default. */
  readonly customerManagedKey?: boolean;
  /** Principals, besides the function's role and CloudFormation's execution role, that may write the secrets' values, stages and policies. */
  readonly secretWriterArns?: readonly string[];
  /** The operators who run `rotator`: they assume the read-only reader role of the central account (and of each member account). */
  readonly operatorPrincipalArns?: readonly string[];
  /** The name of the operators' reader role, in the central account as in the member accounts. */
  readonly readerRoleName?: string;
  /** ROTATOR_STUCK_AFTER: how long a rotation may stand unfinished before the sweep recovers it ("0s": never). */
  readonly stuckAfter?: string;
  /** Principals that may invoke the function, for `rotator recover` (the recover action). */
  readonly recoverPrincipalArns?: readonly string[];
  /** Whether the sweep imports Security Hub findings (ROTATOR_FINDINGS) and the role may import them; true by default. */
  readonly securityHubFindings?: boolean;
}

/**
 * The names of the stack's outputs, fixed (the README and `cargo xtask deploy` use them): CDK would otherwise name an
 * output after its construct path and a hash, such as `RotatorFunctionRoleArn867ADE8C`.
 */
export const OUTPUT_NAMES = {
  functionRoleArn: 'FunctionRoleArn',
  alertTopicArn: 'AlertTopicArn',
  functionName: 'FunctionName',
  managedUserPath: 'ManagedUserPath',
  secretNamePrefix: 'SecretNamePrefix',
  secretsKeyArn: 'SecretsKeyArn',
  readerRoleArn: 'ReaderRoleArn',
} as const;

/** The SDK operation with which the sweep imports findings, as granted (contract §12). */
export const FINDINGS_ACTIONS = ['securityhub:BatchImportFindings'];
/** What the sweep reads of its earlier findings, to update and resolve them (contract §12). */
export const FINDINGS_READ_ACTIONS = ['securityhub:GetFindings'];

/** The time that the function gets beyond the testSecret budget, for the other API calls of a step. */
export const TIMEOUT_MARGIN = Duration.seconds(60);

/**
 * The seconds that the sweep of `secrets` secrets needs, as `rotator doctor` counts them (crates/rotator-core/src/doctor/
 * checks.rs, `sweep_seconds`): 10 s, plus 50 ms per secret (IAM's account-wide read rate bounds the one ListAccessKeys
 * per secret), plus the 20 s before the deadline in which the sweep begins no secret and sends its alert. The
 * function's timeout is the longer of this and the testSecret budget plus its margin, at most Lambda's 900 s: 120 s
 * for a few users, 280 s for the 5,000 users a deployment supports.
 */
export function sweepTimeoutSeconds(secrets: number): number {
  return 10 + Math.ceil((secrets * 50) / 1000) + 20;
}

/** The longest IAM path. */
const MAX_IAM_PATH = 512;

/** The Secrets Manager actions that a rotation function needs on the secrets it rotates. */
export const SECRET_ACTIONS = [
  'secretsmanager:DescribeSecret',
  'secretsmanager:GetSecretValue',
  'secretsmanager:PutSecretValue',
  'secretsmanager:UpdateSecretVersionStage',
  // The sweep reads a secret's versions to find its AWSPREVIOUS key.
  'secretsmanager:ListSecretVersionIds',
];

/** The payload with which the schedule invokes the function (contract §9). */
export const SWEEP_EVENT = { Action: 'sweep' } as const;

/** The fixed logical ids of the other stateful resources, kept stable across refactorings of the construct tree. */
export const LOGICAL_IDS = {
  alertKey: 'AlertTopicKey',
  alertTopic: 'AlertTopic',
  logGroup: 'RotatorLogGroup',
  deadLetterQueue: 'AlertDeadLetterQueue',
  sweepDeadLetterQueue: 'SweepDeadLetterQueue',
} as const;

/**
 * A resource name made of the stack's name and a suffix; when that is longer than `max`, the stack's name is
 * shortened and a hash of it keeps names of different stacks apart.
 */
export function boundedName(stackName: string, suffix: string, max: number): string {
  if (stackName.length + suffix.length <= max) return `${stackName}${suffix}`;
  const hash = createHash('sha256').update(stackName).digest('hex').slice(0, 8);
  return `${stackName.slice(0, max - suffix.length - hash.length - 1)}${suffix}-${hash}`;
}

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
  /** Each managed user's secret, by user key (the name, or "<account>/<name>" for a user of a member account). */
  readonly secrets: ReadonlyMap<string, secretsmanager.Secret>;
  /** The nested stacks that hold the secrets, by shard number; only shards with users exist. */
  readonly shards: ReadonlyMap<number, SecretShard>;
  /** The IAM path of this deployment's users, such as "/rotated/IamKeyRotator/". */
  readonly deploymentUserPath: string;
  /** The EventBridge rule that forwards failed and abandoned rotations to the alert topic. */
  readonly rotationFailureRule: events.Rule;
  /** The queue that keeps the events that the rule could not deliver to the alert topic. */
  readonly deadLetterQueue: sqs.Queue;
  /** The alarm on the function's Errors metric. */
  readonly errorsAlarm: cloudwatch.Alarm;
  /** The alarm on the rule's failed deliveries to the alert topic. */
  readonly failedDeliveriesAlarm: cloudwatch.Alarm;
  /** The alarm on events waiting in the dead-letter queue. */
  readonly deadLettersAlarm: cloudwatch.Alarm;
  /** The SES identity of the sender, when this construct creates it. */
  readonly senderIdentity?: ses.EmailIdentity;
  /** The EventBridge Scheduler schedule that invokes the sweep. */
  readonly sweepSchedule: scheduler.Schedule;
  /** The name of that schedule (in the group "default"). */
  readonly sweepScheduleName: string;
  /** The role with which the schedule invokes the function, and nothing else. */
  readonly sweepScheduleRole: iam.Role;
  /** The queue that keeps the sweep invocations that the schedule could not deliver. */
  readonly sweepDeadLetterQueue: sqs.Queue;
  /** The alarms on the function's own metrics and on missed sweeps, by what they watch. */
  readonly metricAlarms: {
    readonly stepFailed: cloudwatch.Alarm;
    readonly stuckRotations: cloudwatch.Alarm;
    readonly overdueRotations: cloudwatch.Alarm;
    readonly oldKeysInUse: cloudwatch.Alarm;
    readonly sweepErrors: cloudwatch.Alarm;
    readonly missedSweeps: cloudwatch.Alarm;
  };
  /** The deployment's metrics (namespace IamKeyRotator, dimension Deployment = the function's name). */
  readonly metrics: RotatorMetrics;
  /** The CloudWatch dashboard of the deployment. */
  readonly dashboard: RotatorDashboard;
  /** The accounts named by the users, other than the deployment's own (which the synthesis may not know). */
  readonly memberAccounts: readonly string[];
  /** The customer-managed key of the secrets, unless customerManagedKey is false. */
  readonly secretsKey?: kms.Key;
  /** The operators' read-only role of the central account, when operators are configured. */
  readonly readerRole?: iam.Role;
  /** Who may write the secrets' values, stages and policies: the function's role, CloudFormation's execution role, the named writers. */
  readonly writerArns: readonly string[];

  constructor(scope: Construct, id: string, props: RotatorProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const testTimeout = props.testTimeout ?? Duration.seconds(60);
    const alertEmails = props.alertEmails ?? [];
    const defaultNotifyEmails = props.defaultNotifyEmails ?? [];

    // The users of this deployment live under a path of their own (the base path and the stack name), so
    // that the role reaches none of the users of another deployment, even one under the same base path.
    this.deploymentUserPath = deploymentUserPath(props.managedUserPath, stack.stackName);
    if (this.deploymentUserPath.length > MAX_IAM_PATH) {
      throw new Error(
        `The IAM path ${this.deploymentUserPath} (managedUserPath and the stack name) is longer than IAM's ${MAX_IAM_PATH} characters.`,
      );
    }

    // Alarm names are fixed, so that the alert key's policy can name the alarms without referring to them
    // (an alarm refers to the topic, which refers to the key: a reference back would be a cycle).
    const alarmNames = {
      errors: `${stack.stackName}-FunctionErrors`,
      failedDeliveries: `${stack.stackName}-AlertDeliveryFailures`,
      deadLetters: `${stack.stackName}-UndeliveredAlerts`,
      stepFailed: `${stack.stackName}-RotationStepFailed`,
      stuckRotations: `${stack.stackName}-StuckRotations`,
      overdueRotations: `${stack.stackName}-OverdueRotations`,
      oldKeysInUse: `${stack.stackName}-OldKeysInUse`,
      sweepErrors: `${stack.stackName}-SweepErrors`,
      missedSweeps: `${stack.stackName}-MissedSweeps`,
    };
    const alarmArn = (name: string) => `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:${name}`;

    // The alert topic is encrypted with a customer-managed key rather than alias/aws/sns: the AWS-managed
    // key's policy cannot be changed, so neither EventBridge nor CloudWatch alarms could publish to the
    // topic. This key's policy lets exactly those two services (and, through IAM, the function) use it.
    this.alertKey = new kms.Key(this, 'AlertTopicKey', {
      description: 'Encrypts the alert topic of the IAM access key rotator.',
      enableKeyRotation: true,
    });
    (this.alertKey.node.defaultChild as kms.CfnKey).overrideLogicalId(LOGICAL_IDS.alertKey);
    // EventBridge sends neither aws:SourceAccount nor aws:SourceArn on the KMS calls it makes to deliver to
    // an encrypted topic: a condition on either here would deny every delivery, and the alerts of failed
    // rotations would be dropped without a trace. The topic's policy limits EventBridge to this rule instead.
    this.alertKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowEventBridgeToEncryptAlerts',
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
      }),
    );
    // CloudWatch does send both keys, so it may use the key only for this deployment's alarms.
    this.alertKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowAlarmsToEncryptAlerts',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
          ArnEquals: { 'aws:SourceArn': Object.values(alarmNames).map(alarmArn) },
        },
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
    skipCheckov(this.logGroup.node.defaultChild as logs.CfnLogGroup, {
      id: 'CKV_AWS_158',
      comment:
        'CloudWatch Logs encrypts every log group at rest; the function never logs a secret value (only ARNs, key ids and ' +
        'step outcomes), so a customer-managed key would add a key policy for the logs service and protect nothing more.',
    });

    // The role starts empty: no AWS-managed policy, and its only permissions are the statements of
    // this.policy below, each scoped to the resources of this deployment.
    this.role = new iam.Role(this, 'FunctionRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Execution role of the IAM access key rotator.',
    });
    // The member-roles stack (its StackSet's CentralRoleArn) reads this role's ARN through an export, a strong reference:
    // CloudFormation refuses to change or remove it while that stack imports it, where Fn::GetStackOutput (cdk.json's
    // default, "weak") would leave every member role trusting a role that no longer exists (CloudFormation template
    // reference, Fn::GetStackOutput: "the consuming stack is not automatically updated").
    (this.role.node.defaultChild as iam.CfnRole).applyCrossStackReferenceStrength(ReferenceStrength.STRONG);

    const oldKeyPolicy = props.oldKeyPolicy ?? DEFAULTS.oldKeyPolicy;
    const environment: Record<string, string> = {
      ROTATOR_ALERT_TOPIC_ARN: this.alertTopic.topicArn,
      ROTATOR_OLD_KEY: oldKeyPolicy,
      ROTATOR_TEST_TIMEOUT_SECS: String(testTimeout.toSeconds()),
      // The sweep finds the deployment's secrets by this prefix: every secret is `<stack>/<user>`.
      ROTATOR_SECRET_PREFIX: `${Stack.of(this).stackName}/`,
    };
    // Contract §4: the sweep recovers rotations stuck longer than this (§11), and imports findings when on (§12).
    environment.ROTATOR_STUCK_AFTER = props.stuckAfter ?? DEFAULTS.stuckAfter;
    const findings = props.securityHubFindings ?? DEFAULTS.securityHubFindings;
    environment.ROTATOR_FINDINGS = findings ? 'on' : 'off';
    if (oldKeyPolicy === 'grace') {
      const grace = props.grace ?? { grace: DEFAULTS.grace, graceMax: DEFAULTS.graceMax, usageLag: DEFAULTS.usageLag };
      environment.ROTATOR_GRACE = grace.grace;
      environment.ROTATOR_GRACE_MAX = grace.graceMax;
      environment.ROTATOR_USAGE_LAG = grace.usageLag;
    }
    // The accounts of the users, sorted, so that the policy does not change with the order of the users.
    this.memberAccounts = [...new Set(props.users.flatMap((user) => (user.account ? [user.account] : [])))].sort();
    const members = props.members;
    if ((this.memberAccounts.length > 0 || members?.organization) && members === undefined) {
      throw new Error(`Users of the accounts ${this.memberAccounts.join(', ')} need the member role settings (members).`);
    }
    const crossAccount = members !== undefined && (this.memberAccounts.length > 0 || members.organization !== undefined);
    if (crossAccount) {
      environment.ROTATOR_MEMBER_ROLE_NAME = members.roleName;
      if (members.externalId !== undefined) environment.ROTATOR_MEMBER_EXTERNAL_ID = members.externalId;
    }
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
      timeout: Duration.seconds(
        Math.min(900, Math.max(testTimeout.plus(TIMEOUT_MARGIN).toSeconds(), sweepTimeoutSeconds(props.users.length))),
      ),
      logGroup: this.logGroup,
      reservedConcurrentExecutions: props.reservedConcurrency,
      environment,
    });

    // CDK makes every function depend on its role explicitly, although the Role property's GetAtt already
    // orders them; cfn-lint reports that redundancy (W3005), which is harmless, on this resource only.
    (this.function.node.defaultChild as lambda.CfnFunction).addMetadata('cfn-lint', {
      config: { ignore_checks: ['W3005'] },
    });
    skipCheckov(
      this.function.node.defaultChild as lambda.CfnFunction,
      {
        id: 'CKV_AWS_116',
        comment:
          'Secrets Manager invokes the function synchronously and the schedule has a dead-letter queue of its own, so a ' +
          'function dead-letter queue, which only asynchronous invocations use, would receive nothing.',
      },
      {
        id: 'CKV_AWS_117',
        comment:
          'The function calls only public AWS APIs (IAM, STS, Secrets Manager, SNS, SES) and reaches no private resource; ' +
          'a VPC would add NAT or an interface endpoint per service and no protection.',
      },
      {
        id: 'CKV_AWS_173',
        comment:
          'The environment holds no secret, only ARNs, names, addresses and durations, and Lambda encrypts it at rest with ' +
          'its own key; the secrets themselves are read from Secrets Manager at each step.',
      },
    );
    if (props.reservedConcurrency === undefined) {
      skipCheckov(this.function.node.defaultChild as lambda.CfnFunction, {
        id: 'CKV_AWS_115',
        comment:
          'Reserved concurrency is the reservedConcurrency setting: reserving takes from the account\'s pool and Lambda ' +
          'refuses a reservation that leaves less than 100 unreserved (a new account may have 10 in all), so it is off ' +
          'unless configured; Secrets Manager retries a throttled rotation.',
      });
    }

    // Secrets Manager may invoke the function only on behalf of this account. One permission serves every
    // secret: a Lambda permission takes a single SourceArn, and the secrets are many.
    const invokePermissionId = 'AllowSecretsManagerInvoke';
    this.function.addPermission(invokePermissionId, {
      principal: new iam.ServicePrincipal('secretsmanager.amazonaws.com'),
      action: 'lambda:InvokeFunction',
      sourceAccount: stack.account,
    });
    const invokePermission = this.function.node.findChild(invokePermissionId) as lambda.CfnPermission;
    // `rotator recover` invokes the function's recover action (contract §11) with the credentials of these principals:
    // the function, the sole writer, ends the stuck rotation, so they need nothing but lambda:InvokeFunction.
    (props.recoverPrincipalArns ?? []).forEach((arn, i) => {
      this.function.addPermission(`AllowRecover${i}`, { principal: new iam.ArnPrincipal(arn), action: 'lambda:InvokeFunction' });
    });

    // addRotationSchedule adds its own invoke permission (without SourceAccount) and role statements
    // (including secretsmanager:GetRandomPassword on "*") when it is given a function of this stack. Given
    // this reference instead, it adds neither: the permission above and this.policy are the whole grant.
    const rotationTarget = lambda.Function.fromFunctionAttributes(this, 'RotationTarget', {
      functionArn: this.function.functionArn,
      sameEnvironment: true,
      skipPermissions: true,
    });

    // Every secret is named "<stack name>/<user name>": easy to find, one prefix for the event rule, and one
    // constant-size resource for the role, however many users the deployment has.
    const secretNamePrefix = `${stack.stackName}/`;
    const deploymentSecretsArn = `arn:${Aws.PARTITION}:secretsmanager:${Aws.REGION}:${Aws.ACCOUNT_ID}:secret:${secretNamePrefix}*`;
    const deploymentUsersArn = `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:user${this.deploymentUserPath}*`;
    // Who may write the secrets: the function's role, CloudFormation's execution role (which creates, updates and deletes
    // the secrets and their policies; the bootstrap's role when the stack is deployed with the default synthesizer) and
    // the configured writers. A deployment with another role (`cdk deploy --role-arn`) names that role in secretWriterArns.
    const synthesizer = stack.synthesizer;
    const cloudFormationRole =
      synthesizer instanceof DefaultStackSynthesizer ? Fn.sub(synthesizer.cloudFormationExecutionRoleArn) : undefined;
    this.writerArns = [this.role.roleArn, ...(cloudFormationRole ? [cloudFormationRole] : []), ...(props.secretWriterArns ?? [])];
    if (props.customerManagedKey ?? true) {
      const readerAccounts = new Set<string>();
      for (const user of props.users) {
        for (const reader of user.readers ?? []) readerAccounts.add(reader.split(':')[4]);
      }
      this.secretsKey = new SecretsKey(this, 'SecretsKey', {
        secretNamePrefix,
        writerArns: this.writerArns,
        // The deployment's own account is always admitted; the synthesis may not know its id (a token).
        readerAccounts: [...readerAccounts].filter((account) => account !== stack.account),
      }).key;
    }

    const statements = [
      // Key management and the rotator's own tags, on the users under this deployment's path only.
      ...managedUserStatements(deploymentUsersArn),
      new iam.PolicyStatement({
        sid: 'RotateManagedSecrets',
        actions: SECRET_ACTIONS,
        resources: [deploymentSecretsArn],
        // The function can touch these secrets only while it is their rotation function: a secret whose
        // rotation is pointed elsewhere is out of its reach.
        conditions: {
          ArnEquals: { 'secretsmanager:resource/AllowRotationLambdaArn': this.function.functionArn },
        },
      }),
      new iam.PolicyStatement({
        sid: 'ListSecretsForTheSweep',
        // ListSecrets supports no resource-level permission (Secrets Manager authorizes it for "*" only); the
        // secrets it lists by name are still out of reach but for the statement above.
        actions: ['secretsmanager:ListSecrets'],
        resources: ['*'],
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
      ...(this.secretsKey
        ? [
            new iam.PolicyStatement({
              sid: 'UseTheSecretsKeyThroughSecretsManager',
              // The key's policy admits the function's role by aws:PrincipalArn, through the account: IAM must allow it too.
              actions: WRITER_KEY_ACTIONS,
              resources: [this.secretsKey.keyArn],
              conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Aws.REGION}.amazonaws.com` } },
            }),
          ]
        : []),
      ...(findings
        ? [
            new iam.PolicyStatement({
              sid: 'ImportFindings',
              // The account's default product (contract §12); BatchImportFindings is authorized against the product
              // resource type (Service Authorization Reference, AWS Security Hub). BatchUpdateFindings is not used.
              actions: FINDINGS_ACTIONS,
              resources: [`arn:${Aws.PARTITION}:securityhub:${Aws.REGION}:${Aws.ACCOUNT_ID}:product/${Aws.ACCOUNT_ID}/default`],
            }),
            new iam.PolicyStatement({
              sid: 'ReadOwnFindings',
              // The sweep reads the findings it imported before (GetFindings, filtered by its product and generator),
              // to update and resolve them. GetFindings is authorized against the account's `hub` resource type
              // (Service Authorization Reference, AWS Security Hub: arn:${Partition}:securityhub:${Region}:${Account}:hub/default).
              actions: FINDINGS_READ_ACTIONS,
              resources: [`arn:${Aws.PARTITION}:securityhub:${Aws.REGION}:${Aws.ACCOUNT_ID}:hub/default`],
            }),
          ]
        : []),
      new iam.PolicyStatement({
        sid: 'WriteOwnLogs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        // The log group's ARN attribute ends in ":*", which covers its log streams and nothing else.
        resources: [this.logGroup.logGroupArn],
      }),
    ];

    const memberRoleArn = (account: string) => `arn:${Aws.PARTITION}:iam::${account}:role/${members!.roleName}`;
    if (crossAccount && members.organization !== undefined) {
      const organization = members.organization;
      statements.push(
        new iam.PolicyStatement({
          sid: 'AssumeMemberRolesInOrganization',
          actions: ['sts:AssumeRole'],
          // The member role by name in any account of the organizational units that the StackSet rolls it out to;
          // sts:AssumeRole supports the global aws:ResourceOrgID and aws:ResourceOrgPaths keys for the role.
          resources: [memberRoleArn('*')],
          conditions: {
            StringEquals: { 'aws:ResourceOrgID': organization.id },
            'ForAnyValue:StringLike': {
              'aws:ResourceOrgPaths': organization.organizationalUnits.map((unit) =>
                unit.startsWith('r-') ? `${organization.id}/${unit}/*` : `${organization.id}/*/${unit}/*`,
              ),
            },
          },
        }),
      );
    } else if (crossAccount) {
      statements.push(
        new iam.PolicyStatement({
          sid: 'AssumeMemberRoles',
          actions: ['sts:AssumeRole'],
          // Exactly the member role of each account that a user names.
          resources: this.memberAccounts.map(memberRoleArn),
        }),
      );
    }

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
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:user${this.deploymentUserPath}*]`,
      reason:
        `The wildcard is this deployment's user path ${this.deploymentUserPath}: the function may manage the ` +
        'access keys (and write only its own rotator:* tags) of the users under that path, which exist only to ' +
        'be rotated by this deployment, and of no other user. A list of user ARNs would outgrow the inline ' +
        'policy quota with a few dozen users.',
    });
    Validations.of(this.policy).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${secretNamePrefix}*]`,
      reason:
        `The wildcard is this deployment's secret name prefix ${secretNamePrefix}, to which the function binds ` +
        'each secret to its user, and the AllowRotationLambdaArn condition limits it further to secrets that ' +
        'this function rotates. A list of secret ARNs would outgrow the inline policy quota with a few dozen users.',
    });
    Validations.of(this.policy).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'secretsmanager:ListSecrets, with which the sweep finds the secrets of this deployment, supports no ' +
        'resource-level permission: IAM accepts it for "*" only. It lists names and metadata, never a value; reading ' +
        'or changing a secret needs the statement on this deployment\'s secret prefix.',
    });
    if (crossAccount && members.organization !== undefined) {
      Validations.of(this.policy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::*:role/${members.roleName}]`,
        reason:
          `The wildcard is the account of the member role ${members.roleName}: the StackSet creates that role in every ` +
          'account of the configured organizational units, including accounts that join later, so the accounts cannot ' +
          'be listed. The aws:ResourceOrgID and aws:ResourceOrgPaths conditions limit it to those units of the organization.',
      });
    }
    if (props.senderEmail !== undefined) {
      Validations.of(this.policy).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:identity/*]',
        reason:
          `ses:SendEmail is limited by the ses:FromAddress condition to mail from ${props.senderEmail}. The ` +
          'resource must cover every identity SES checks: the sender address or its domain, and, in the SES ' +
          'sandbox, each recipient, whom the NotifyEmail tags can change without a deployment.',
      });
    }

    // The secrets live in nested stacks, a fixed number of shards by a hash of the user name, so that no
    // stack comes near CloudFormation's 500 resources and a user's secret never changes stacks.
    const secrets = new Map<string, secretsmanager.Secret>();
    const shards = new Map<number, SecretShard>();
    const groups = groupByShard(props.users);
    const created: CfnResource[] = [];
    for (const [shard, users] of groups) {
      if (users.length > MAX_USERS_PER_SHARD) {
        throw new Error(
          `${users.length} users fall into ${shardId(shard)}, more than its ${MAX_USERS_PER_SHARD} ` +
            `(${users.slice(0, 3).map(userKey).join(', ')}, ...): split the users over two deployments.`,
        );
      }
      const nested = new SecretShard(this, shardId(shard), {
        users,
        deploymentName: stack.stackName,
        rotationTarget,
        rotationInterval: props.rotationInterval ?? Duration.days(90),
        rotateImmediately: props.rotateImmediately ?? DEFAULTS.rotateImmediately,
        firstValues: props.firstValues,
        keyArn: this.secretsKey?.keyArn,
        writerArns: this.writerArns,
      });
      const resource = nested.nestedStackResource!;
      resource.overrideLogicalId(shardId(shard));
      // A new schedule rotates at once (when rotateImmediately is set) or tests the function, so the
      // function must be invocable and fully permitted before any schedule exists.
      resource.addResourceDependency(invokePermission);
      resource.addResourceDependency(this.policy.node.defaultChild as iam.CfnPolicy);
      // At most PARALLEL_SHARDS shards are created at a time: each waits for the one PARALLEL_SHARDS before it.
      const before = created[created.length - PARALLEL_SHARDS];
      if (before) resource.addResourceDependency(before);
      created.push(resource);
      shards.set(shard, nested);
      for (const [name, secret] of nested.secrets) secrets.set(name, secret);
    }
    this.secrets = secrets;
    this.shards = shards;
    // Every other resource of the stack exists before the first shard is created (see ShardsLast).
    Aspects.of(stack).add(new ShardsLast(stack, created.slice(0, PARALLEL_SHARDS), created));

    // Failed and abandoned rotations of these secrets reach the alert topic even when the function cannot
    // report them itself (it timed out, could not start, or was never invoked).
    this.rotationFailureRule = new events.Rule(this, 'RotationFailureRule', {
      description: 'Forwards failed and abandoned rotations, and failed rotation tests, of the rotator secrets to the alert topic.',
      eventPattern: {
        source: ['aws.secretsmanager'],
        detailType: ['AWS Service Event via CloudTrail'],
        detail: {
          eventSource: ['secretsmanager.amazonaws.com'],
          // TestRotationFailed: a schedule created or changed without an immediate rotation runs only testSecret, and
          // Secrets Manager records its failure under this name (Secrets Manager user guide, "AWS CloudTrail entries
          // for Secrets Manager").
          eventName: ['RotationFailed', 'RotationAbandoned', 'TestRotationFailed'],
          // A prefix rather than the list of ARNs, which would outgrow the 4,096-character pattern quota.
          additionalEventData: {
            SecretId: events.Match.prefix(
              `arn:${Aws.PARTITION}:secretsmanager:${Aws.REGION}:${Aws.ACCOUNT_ID}:secret:${secretNamePrefix}`,
            ),
          },
        },
      },
    });

    // An event that EventBridge cannot deliver to the topic (after a day of retries) lands in this queue
    // instead of being dropped, and an alarm says so.
    this.deadLetterQueue = new sqs.Queue(this, 'AlertDeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    (this.deadLetterQueue.node.defaultChild as sqs.CfnQueue).overrideLogicalId(LOGICAL_IDS.deadLetterQueue);
    skipCheckov(this.deadLetterQueue.node.defaultChild as sqs.CfnQueue, {
      id: 'CKV_AWS_27',
      comment:
        'The queue is encrypted at rest with SQS-managed keys (SqsManagedSseEnabled); it holds alert texts, never a secret, ' +
        'and a KMS key would have to admit EventBridge, one more principal able to use a key.',
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter queue of the rotation failure rule\'s target; a dead-letter ' +
        'queue of its own would only move the undelivered alerts one queue further. Its messages raise the ' +
        'UndeliveredAlerts alarm.',
    });
    this.deadLetterQueue.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowRotationFailureRule',
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['sqs:SendMessage'],
        resources: [this.deadLetterQueue.queueArn],
        conditions: { ArnEquals: { 'aws:SourceArn': this.rotationFailureRule.ruleArn } },
      }),
    );

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
        deadLetterConfig: { arn: this.deadLetterQueue.queueArn },
        retryPolicy: { maximumEventAgeInSeconds: Duration.days(1).toSeconds(), maximumRetryAttempts: 185 },
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
    this.errorsAlarm = this.alarm('ErrorsAlarm', alarmNames.errors, {
      alarmDescription: 'The IAM access key rotator function failed; see its logs and the alert topic.',
      metric: this.function.metricErrors({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
    });
    // These two catch alerts that did not reach the topic. If the topic itself is what fails, their own
    // notifications may not arrive either, but the alarms still show in CloudWatch.
    this.failedDeliveriesAlarm = this.alarm('FailedDeliveriesAlarm', alarmNames.failedDeliveries, {
      alarmDescription:
        'EventBridge could not deliver a failed-rotation alert of the IAM access key rotator to the alert topic.',
      metric: new cloudwatch.Metric({
        namespace: 'AWS/Events',
        metricName: 'FailedInvocations',
        dimensionsMap: { RuleName: this.rotationFailureRule.ruleName },
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.SUM,
      }),
    });
    this.deadLettersAlarm = this.alarm('DeadLettersAlarm', alarmNames.deadLetters, {
      alarmDescription:
        'Failed-rotation alerts of the IAM access key rotator wait in its dead-letter queue: read them there.',
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
    });

    // The sweep: an EventBridge Scheduler schedule invokes the function with {"Action": "sweep"}.
    this.sweepDeadLetterQueue = new sqs.Queue(this, 'SweepDeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    (this.sweepDeadLetterQueue.node.defaultChild as sqs.CfnQueue).overrideLogicalId(LOGICAL_IDS.sweepDeadLetterQueue);
    skipCheckov(this.sweepDeadLetterQueue.node.defaultChild as sqs.CfnQueue, {
      id: 'CKV_AWS_27',
      comment:
        'The queue is encrypted at rest with SQS-managed keys (SqsManagedSseEnabled); it holds the constant payload ' +
        '{"Action": "sweep"}, and a KMS key would have to admit the schedule\'s role, one more principal able to use a key.',
    });
    Validations.of(this.sweepDeadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter queue of the sweep schedule; a dead-letter queue of its own would only ' +
        'move the undelivered invocations one queue further. Its messages raise the MissedSweeps alarm.',
    });
    // The schedule's name is fixed (and short enough for Scheduler's 64 characters).
    const sweep = new SweepSchedule(this, 'Sweep', {
      scheduleName: boundedName(stack.stackName, '-Sweep', 64),
      expression: props.sweepSchedule ?? DEFAULTS.sweepSchedule,
      function: this.function,
      input: SWEEP_EVENT,
      deadLetterQueue: this.sweepDeadLetterQueue,
    });
    this.sweepSchedule = sweep.schedule;
    this.sweepScheduleRole = sweep.role;
    this.sweepScheduleName = sweep.scheduleName;

    // Alarms on the function's own metrics (Embedded Metric Format, namespace IamKeyRotator, dimension Deployment).
    this.metrics = new RotatorMetrics(this.function.functionName);
    const stepMetric = (name: string) => this.metrics.deployment(name, cloudwatch.Stats.SUM, STEP_PERIOD);
    // The sweep reports its gauges once per run: an alarm looks at hourly maxima, and stays in alarm while either of
    // the last two hours reports the problem, so that a sweep running a little early or late does not flap it.
    const sweepGauge = (name: string) => this.metrics.deployment(name, cloudwatch.Stats.MAXIMUM, SWEEP_PERIOD);
    const overTwoHours = { evaluationPeriods: 2, datapointsToAlarm: 1 };
    this.metricAlarms = {
      stepFailed: this.alarm('RotationStepFailedAlarm', alarmNames.stepFailed, {
        alarmDescription: 'A rotation step of the IAM access key rotator failed; the alert topic has its alert with the error.',
        metric: stepMetric(STEP_METRICS.failed),
      }),
      stuckRotations: this.alarm('StuckRotationsAlarm', alarmNames.stuckRotations, {
        alarmDescription:
          'A rotation of the IAM access key rotator has been in progress for too long (the sweep counts it): see the ' +
          'secret\'s AWSPENDING version and the function logs.',
        metric: sweepGauge(SWEEP_METRICS.stuckRotations),
        ...overTwoHours,
      }),
      overdueRotations: this.alarm('OverdueRotationsAlarm', alarmNames.overdueRotations, {
        alarmDescription:
          'A secret of the IAM access key rotator is past its next rotation date (the sweep counts it): its rotation ' +
          'keeps failing or never started.',
        metric: sweepGauge(SWEEP_METRICS.overdueRotations),
        ...overTwoHours,
      }),
      oldKeysInUse: this.alarm('OldKeysInUseAlarm', alarmNames.oldKeysInUse, {
        alarmDescription:
          'An old access key is still used after its grace period; the sweep\'s alert names the key and where it was last used.',
        metric: sweepGauge(SWEEP_METRICS.oldKeysInUse),
        ...overTwoHours,
      }),
      sweepErrors: this.alarm('SweepErrorsAlarm', alarmNames.sweepErrors, {
        alarmDescription: 'The sweep of the IAM access key rotator could not check some secrets; see the function logs.',
        metric: this.metrics.deployment(SWEEP_METRICS.sweepErrors, cloudwatch.Stats.SUM, SWEEP_PERIOD),
      }),
      missedSweeps: this.alarm('MissedSweepsAlarm', alarmNames.missedSweeps, {
        alarmDescription:
          'The schedule could not invoke the sweep of the IAM access key rotator; the invocations wait in its dead-letter queue.',
        metric: this.sweepDeadLetterQueue.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(5),
          statistic: cloudwatch.Stats.MAXIMUM,
        }),
      }),
    };
    const allAlarms = [this.errorsAlarm, this.failedDeliveriesAlarm, this.deadLettersAlarm, ...Object.values(this.metricAlarms)];

    // CloudWatch may publish to the topic only for these alarms of this account.
    this.alertTopic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowRotatorAlarms',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.alertTopic.topicArn],
        conditions: {
          ArnEquals: {
            'aws:SourceArn': allAlarms.map((alarm) => alarm.alarmArn),
          },
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
        },
      }),
    );

    this.dashboard = new RotatorDashboard(this, 'Dashboard', {
      dashboardName: `${stack.stackName}-Fleet`,
      metrics: this.metrics,
      alarms: allAlarms,
    });

    // The operators' read-only role of the central account: the same role as in every member account (the user reads and
    // the credential report), plus what `rotator status`, `audit`, `doctor` and `adopt --dry-run` read here. Operators
    // reach it through a profile (`role_arn`), and from it the reader role of each member account.
    const operators = props.operatorPrincipalArns ?? [];
    if (operators.length > 0) {
      const readerRoleName = props.readerRoleName ?? DEFAULTS.readerRoleName;
      const memberReaderArn = (account: string) => `arn:${Aws.PARTITION}:iam::${account}:role/${readerRoleName}`;
      const organization = crossAccount ? members.organization : undefined;
      this.readerRole = new ReaderRole(this, 'Reader', {
        roleName: readerRoleName,
        operatorPrincipalArns: operators,
        usersArn: deploymentUsersArn,
        extraStatements: centralReaderStatements({
          secretsArn: deploymentSecretsArn,
          functionArn: this.function.functionArn,
          topicArn: this.alertTopic.topicArn,
          allUsersArn: `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:user/*`,
          sesIdentitiesArn: sesIdentities,
          schedulesArn: `arn:${Aws.PARTITION}:scheduler:${Aws.REGION}:${Aws.ACCOUNT_ID}:schedule/*`,
          memberReaderArns: !crossAccount ? [] : organization !== undefined ? [memberReaderArn('*')] : this.memberAccounts.map(memberReaderArn),
          memberReaderConditions:
            organization !== undefined
              ? {
                  StringEquals: { 'aws:ResourceOrgID': organization.id },
                  'ForAnyValue:StringLike': {
                    'aws:ResourceOrgPaths': organization.organizationalUnits.map((unit) =>
                      unit.startsWith('r-') ? `${organization.id}/${unit}/*` : `${organization.id}/*/${unit}/*`,
                    ),
                  },
                }
              : undefined,
        }),
      }).role;
      (this.readerRole.node.defaultChild as iam.CfnRole).overrideLogicalId(`Central${READER_ROLE_LOGICAL_ID}`);
      // The member-roles stack passes its ARN to every member reader role's trust policy: a strong reference, as above.
      (this.readerRole.node.defaultChild as iam.CfnRole).applyCrossStackReferenceStrength(ReferenceStrength.STRONG);
      const path = this.deploymentUserPath;
      const acknowledge = (id: string, reason: string) => Validations.of(this.readerRole!).acknowledge({ id: `AwsSolutions-IAM5[${id}]`, reason });
      acknowledge(
        `Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:user${path}*`,
        `The wildcard is this deployment's user path ${path}: the operators may read the keys, their last use and the tags of those users, and change nothing.`,
      );
      acknowledge(
        'Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:user/*',
        'iam:GetUser only, on the users of this account: rotator doctor reads where each bound user lives, which may be outside the deployment\'s path (that is the finding). It reveals no key.',
      );
      acknowledge(
        `Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${secretNamePrefix}*`,
        `The wildcard is this deployment's secret prefix ${secretNamePrefix}: the operators read the secrets (rotator status reads each key id) and write none; every secret's policy denies writes to all but the writers.`,
      );
      acknowledge(
        'Resource::arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:identity/*',
        'ses:GetEmailIdentity only: rotator doctor checks that the sender, or its domain, and the recipients in the sandbox are verified.',
      );
      acknowledge(
        'Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/*',
        'scheduler:GetSchedule only: rotator doctor finds the sweep\'s schedule in any group.',
      );
      acknowledge(
        'Resource::*',
        'secretsmanager:ListSecrets, ses:GetAccount, scheduler:ListSchedules, iam:GenerateCredentialReport and GetCredentialReport support no resource-level permission: IAM accepts them for "*" only. All only list or read.',
      );
      if (organization !== undefined) {
        acknowledge(
          `Resource::arn:<AWS::Partition>:iam::*:role/${readerRoleName}`,
          `The wildcard is the account of the operators' reader role ${readerRoleName}, which the StackSet creates in every account of the organizational units; the aws:ResourceOrgID and aws:ResourceOrgPaths conditions keep it to those units.`,
        );
      }
    }

    const output = (id: string, description: string, value: string) => new CfnOutput(this, id, { description, value }).overrideLogicalId(id);
    output(
      OUTPUT_NAMES.functionRoleArn,
      'The function\'s role: the member role of each member account trusts this ARN (-c centralRoleArn=...).',
      this.role.roleArn,
    );
    output(OUTPUT_NAMES.alertTopicArn, 'The SNS topic that receives rotation failure alerts.', this.alertTopic.topicArn);
    output(OUTPUT_NAMES.functionName, 'The rotation Lambda function (rotator recover invokes it).', this.function.functionName);
    output(OUTPUT_NAMES.managedUserPath, 'The IAM path under which the managed users of this deployment must live.', this.deploymentUserPath);
    output(OUTPUT_NAMES.secretNamePrefix, 'Every secret of this deployment is named this prefix followed by its user name.', secretNamePrefix);
    if (this.secretsKey) {
      output(OUTPUT_NAMES.secretsKeyArn, 'The customer-managed key of the secrets (kept when the stack is deleted).', this.secretsKey.keyArn);
    }
    if (this.readerRole) {
      output(
        OUTPUT_NAMES.readerRoleArn,
        'The operators\' read-only role of this account (a profile\'s role_arn for rotator status, audit, doctor).',
        this.readerRole.roleArn,
      );
    }
  }

  /** An alarm that fires on one occurrence within its metric's period (or datapointsToAlarm of evaluationPeriods) and notifies the alert topic. */
  private alarm(
    id: string,
    alarmName: string,
    props: { alarmDescription: string; metric: cloudwatch.IMetric; evaluationPeriods?: number; datapointsToAlarm?: number },
  ) {
    const alarm = new cloudwatch.Alarm(this, id, {
      alarmName,
      evaluationPeriods: 1,
      ...props,
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new cloudwatchActions.SnsAction(this.alertTopic));
    return alarm;
  }
}
