/** The operators' read-only role of a member account (IamKeyRotatorReader by default): what `rotator status` and `rotator audit` read there, and no write. */
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
      assumedBy: new iam.CompositePrincipal(...props.operatorPrincipalArns.map((arn) => new iam.ArnPrincipal(arn))),
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
          ],
        }),
      },
    });
    (this.role.node.defaultChild as iam.CfnRole).overrideLogicalId(READER_ROLE_LOGICAL_ID);
  }
}
