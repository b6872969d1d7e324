/** The operators' read-only role (IamKeyRotatorReader by default), in every member account and in the central account: what `rotator status`, `audit`, `doctor` and `adopt --dry-run` read there, and no write. */
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/** The logical id of the reader role in the member template. */
export const READER_ROLE_LOGICAL_ID = 'ReaderRole';

/** What the reader role may read of the users under the deployment's path: their keys, the keys' last use, their tags. */
export const READER_USER_ACTIONS = ['iam:ListAccessKeys', 'iam:GetAccessKeyLastUsed', 'iam:ListUserTags'];

/**
 * The credential report, which `rotator audit` reads for the whole account. Neither action supports a resource type,
 * so IAM accepts them for "*" only (Service Authorization Reference, "Actions, resources, and condition keys for AWS
 * Identity and Access Management", GenerateCredentialReport and GetCredentialReport).
 */
export const READER_REPORT_ACTIONS = ['iam:GenerateCredentialReport', 'iam:GetCredentialReport'];

/** The statement ids of the reader role's policy. */
export const READER_STATEMENT_IDS = { users: 'ReadKeysOfManagedUsers', report: 'ReadTheCredentialReport' } as const;

/** The properties of a ReaderRole. */
export interface ReaderRoleProps {
  /** The role's name. */
  readonly roleName: string;
  /** The operators' principals (role or user ARNs) that may assume it. */
  readonly operatorPrincipalArns: readonly string[];
  /** The external id that they must pass, when one is configured (as for the member role). */
  readonly externalId?: string;
  /** The ARN pattern of the deployment's users in this account (the user path followed by "*"). */
  readonly usersArn: string;
  /** Principals trusted besides the operators: in a member account, the central account's reader role. */
  readonly alsoTrusted?: readonly string[];
  /** Statements besides the user reads and the credential report: in the central account, the deployment's reads. */
  readonly extraStatements?: readonly iam.PolicyStatement[];
}

/** The statement ids of the central reader role's further statements. */
export const CENTRAL_READER_STATEMENT_IDS = {
  users: 'ReadTheUsersPaths',
  secrets: 'ReadTheDeploymentsSecrets',
  list: 'ListSecrets',
  deployment: 'ReadTheDeployment',
  unscoped: 'ReadWhatHasNoResource',
  members: 'AssumeTheMemberReaderRoles',
} as const;

/** What the central reader role reads besides what every reader role reads. */
export interface CentralReads {
  /** The ARN pattern of the deployment's secrets (`secret:<stack>/*`). */
  readonly secretsArn: string;
  /** The function's ARN (`rotator doctor` reads its configuration). */
  readonly functionArn: string;
  /** The alert topic's ARN (`rotator doctor` lists its subscriptions). */
  readonly topicArn: string;
  /** The ARN pattern of the account's users (`rotator doctor` reads where each bound user lives). */
  readonly allUsersArn: string;
  /** The ARN pattern of the account's SES identities and Scheduler schedules. */
  readonly sesIdentitiesArn: string;
  readonly schedulesArn: string;
  /** The member reader roles it may assume, and the conditions on them (the organization's), when there are members. */
  readonly memberReaderArns?: readonly string[];
  readonly memberReaderConditions?: Record<string, Record<string, unknown>>;
}

/**
 * The reads of `rotator status`, `audit`, `doctor` and `adopt --dry-run` in the central account (README, each command),
 * beyond the user reads and the credential report of every reader role: the deployment's secrets (their values are
 * decrypted through Secrets Manager, which the secrets' key admits), the function's configuration, the alert topic's
 * subscriptions, the SES sender and account, the sweep's schedule, and each member account's reader role for the rows
 * of member accounts.
 */
export function centralReaderStatements(reads: CentralReads): iam.PolicyStatement[] {
  const statements = [
    new iam.PolicyStatement({ sid: CENTRAL_READER_STATEMENT_IDS.users, actions: ['iam:GetUser'], resources: [reads.allUsersArn] }),
    new iam.PolicyStatement({
      sid: CENTRAL_READER_STATEMENT_IDS.secrets,
      actions: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:ListSecretVersionIds'],
      resources: [reads.secretsArn],
    }),
    new iam.PolicyStatement({
      sid: CENTRAL_READER_STATEMENT_IDS.deployment,
      actions: ['lambda:GetFunctionConfiguration', 'sns:ListSubscriptionsByTopic', 'ses:GetEmailIdentity', 'scheduler:GetSchedule'],
      resources: [reads.functionArn, reads.topicArn, reads.sesIdentitiesArn, reads.schedulesArn],
    }),
    // ListSecrets, ses:GetAccount and scheduler:ListSchedules support no resource-level permission (Service Authorization
    // Reference: no resource type for each).
    new iam.PolicyStatement({
      sid: CENTRAL_READER_STATEMENT_IDS.unscoped,
      actions: ['secretsmanager:ListSecrets', 'ses:GetAccount', 'scheduler:ListSchedules'],
      resources: ['*'],
    }),
  ];
  if (reads.memberReaderArns !== undefined && reads.memberReaderArns.length > 0) {
    statements.push(
      new iam.PolicyStatement({
        sid: CENTRAL_READER_STATEMENT_IDS.members,
        actions: ['sts:AssumeRole'],
        resources: [...reads.memberReaderArns],
        conditions: reads.memberReaderConditions,
      }),
    );
  }
  return statements;
}

/**
 * A role that the operators assume in a member account to run `rotator status` and `rotator audit` there: it reads
 * the keys, their last use and the tags of the deployment's users, and the account's credential report, and can change
 * nothing. It is not the member role, which keeps trusting the central function's role (and the sweep's principals).
 */
export class ReaderRole extends Construct {
  /** The role. */
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: ReaderRoleProps) {
    super(scope, id);
    if (props.operatorPrincipalArns.length === 0) throw new Error('The reader role needs at least one operator principal to trust.');
    this.role = new iam.Role(this, 'Role', {
      roleName: props.roleName,
      description: 'Assumed by the operators of the IAM access key rotator to read the keys of its users in this account; it changes nothing.',
      assumedBy: new iam.CompositePrincipal(
        ...[...props.operatorPrincipalArns, ...(props.alsoTrusted ?? [])].map((arn) => new iam.ArnPrincipal(arn)),
      ),
      externalIds: props.externalId === undefined ? undefined : [props.externalId],
      inlinePolicies: {
        ReadKeysOfRotatedUsers: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              sid: READER_STATEMENT_IDS.users,
              actions: READER_USER_ACTIONS,
              resources: [props.usersArn],
            }),
            new iam.PolicyStatement({
              sid: READER_STATEMENT_IDS.report,
              actions: READER_REPORT_ACTIONS,
              resources: ['*'],
            }),
            ...(props.extraStatements ?? []),
          ],
        }),
      },
    });
    (this.role.node.defaultChild as iam.CfnRole).overrideLogicalId(READER_ROLE_LOGICAL_ID);
  }
}
