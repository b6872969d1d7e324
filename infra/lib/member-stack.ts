/** The member-account stack: the role IamKeyRotatorMember that the central rotator function assumes to manage the access keys of that account's users, and, for the operators, the read-only role IamKeyRotatorReader. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App, Aws, CfnOutput, CfnParameter, LegacyStackSynthesizer, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { READER_ROLE_LOGICAL_ID, ReaderRole } from './operator-role';
import { managedUserStatements } from './user-grants';

export { READER_ROLE_LOGICAL_ID };

/** The parameter through which a StackSet passes the central function's role ARN to every member account. */
export const CENTRAL_ROLE_PARAMETER = 'CentralRoleArn';

/** The parameter through which a StackSet passes the central account's reader role, which every member reader role trusts. */
export const CENTRAL_READER_PARAMETER = 'CentralReaderRoleArn';

/** The logical id of the member role in its template. */
export const MEMBER_ROLE_LOGICAL_ID = 'MemberRole';

/** What a role ARN must look like to be trusted (any partition, a 12-digit account, a role name with its path). */
const ROLE_ARN = '^arn:aws[a-z-]*:iam::\\d{12}:role/[\\w+=,.@/-]{1,512}$';

/** The properties of a MemberStack. */
export interface MemberStackProps extends StackProps {
  /**
   * The ARN of the central function's role (the central stack's FunctionRoleArn output). Absent, the template
   * takes it as the parameter CentralRoleArn, which is how the central stack's StackSet passes it.
   */
  readonly centralRoleArn?: string;
  /** The name of the member role (ROTATOR_MEMBER_ROLE_NAME of the central function). */
  readonly roleName: string;
  /** The external id that the central function passes (ROTATOR_MEMBER_EXTERNAL_ID); none: no condition. */
  readonly externalId?: string;
  /** The IAM path of the central deployment's users, such as "/rotated/IamKeyRotator/": the same in every account. */
  readonly deploymentUserPath: string;
  /** Principals that the member role trusts besides the central role, for the CLI's `rotator sweep`. */
  readonly sweepPrincipalArns?: readonly string[];
  /** The operators who run `rotator status` and `rotator audit`: without them, no reader role. */
  readonly operatorPrincipalArns?: readonly string[];
  /** The name of the operators' read-only role. */
  readonly readerRoleName?: string;
  /**
   * The ARN of the central account's reader role, which the member reader role trusts besides the operators (operators
   * who reach the central reader role through a profile assume each member's from it). Absent: none.
   */
  readonly centralReaderRoleArn?: string;
  /** Whether the template takes that ARN as the parameter CentralReaderRoleArn (the StackSet's template). */
  readonly centralReaderFromParameter?: boolean;
}

/**
 * The stack of one member account. It creates the member role only: the managed IAM users of the account are
 * created by their owners under the deployment's path, as in the central account (the stack must not own them:
 * removing a user from the configuration would delete the IAM user and every policy attached to it).
 */
export class MemberStack extends Stack {
  /** The role that the central function assumes. */
  readonly role: iam.Role;
  /** The ARN that the role trusts: the given one, or the CentralRoleArn parameter. */
  readonly centralRoleArn: string;
  /** The operators' read-only role, when operators are configured. */
  readonly readerRole?: iam.Role;

  constructor(scope: Construct, id: string, props: MemberStackProps) {
    // The stack has no assets, and a member account has no CDK bootstrap stack to rely on (neither for `cdk deploy`
    // there nor for a StackSet instance). LegacyStackSynthesizer writes only the template: no file asset for it and no
    // role in the manifest, so `cdk deploy` sends a template under 51,200 bytes inline (TemplateBody) with the caller's
    // own credentials. Neither alternative does that: BootstraplessSynthesizer() without arguments still names the
    // cdk-hnb659fds deploy and execution roles, and CliCredentialsStackSynthesizer registers the template as a file asset
    // (stackTemplateAssetObjectUrl), which `cdk deploy` uploads to the bootstrap bucket: "No bucket named
    // 'cdk-hnb659fds-assets-<account>-<region>'. Is account ... bootstrapped?" (aws/aws-cdk#20648).
    super(scope, id, { synthesizer: new LegacyStackSynthesizer(), ...props });
    this.centralRoleArn =
      props.centralRoleArn ??
      new CfnParameter(this, CENTRAL_ROLE_PARAMETER, {
        type: 'String',
        description: "The ARN of the central rotator function's role (the central stack's FunctionRoleArn output).",
        allowedPattern: ROLE_ARN,
      }).valueAsString;

    const usersArn = `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:user${props.deploymentUserPath}*`;
    this.role = new iam.Role(this, 'MemberRole', {
      roleName: props.roleName,
      description: 'Assumed by the central IAM access key rotator to manage the access keys of its users in this account.',
      // Only the central function's role (and the principals named for the CLI's sweep), by ARN, and only with the
      // external id when one is configured.
      assumedBy: new iam.CompositePrincipal(
        new iam.ArnPrincipal(this.centralRoleArn),
        ...(props.sweepPrincipalArns ?? []).map((arn) => new iam.ArnPrincipal(arn)),
      ),
      externalIds: props.externalId === undefined ? undefined : [props.externalId],
      inlinePolicies: { ManageKeysOfRotatedUsers: new iam.PolicyDocument({ statements: managedUserStatements(usersArn) }) },
    });
    // A fixed logical id, so that a refactoring of the construct tree never replaces the role.
    (this.role.node.defaultChild as iam.CfnRole).overrideLogicalId(MEMBER_ROLE_LOGICAL_ID);
    Validations.of(this.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:user${props.deploymentUserPath}*]`,
      reason:
        `The wildcard is the central deployment's user path ${props.deploymentUserPath} in this account: the role may ` +
        'manage the access keys (and write only its own rotator:* tags) of the users under that path, which exist only ' +
        'to be rotated by that deployment, and of no other user. A list of user ARNs would change with every user.',
    });
    new CfnOutput(this, 'MemberRoleArn', {
      description: 'The role that the central rotator function assumes in this account.',
      value: this.role.roleArn,
    });
    if ((props.operatorPrincipalArns ?? []).length > 0) {
      this.readerRole = new ReaderRole(this, 'Reader', {
        roleName: props.readerRoleName ?? 'IamKeyRotatorReader',
        operatorPrincipalArns: props.operatorPrincipalArns!,
        externalId: props.externalId,
        usersArn,
        alsoTrusted: props.centralReaderFromParameter
          ? [
              new CfnParameter(this, CENTRAL_READER_PARAMETER, {
                type: 'String',
                description: "The ARN of the central account's reader role (the central stack's ReaderRoleArn output).",
                allowedPattern: ROLE_ARN,
              }).valueAsString,
            ]
          : props.centralReaderRoleArn !== undefined
            ? [props.centralReaderRoleArn]
            : [],
      }).role;
      Validations.of(this.readerRole).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:user${props.deploymentUserPath}*]`,
        reason:
          `The wildcard is the central deployment's user path ${props.deploymentUserPath} in this account: the operators ` +
          'may read the keys, their last use and the tags of the users under that path, and change nothing.',
      });
      Validations.of(this.readerRole).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'iam:GenerateCredentialReport and iam:GetCredentialReport, with which rotator audit reads the account\'s keys, ' +
          'support no resource-level permission: IAM accepts them for "*" only. The report lists users and key metadata, never a secret.',
      });
      new CfnOutput(this, 'ReaderRoleArn', {
        description: 'The read-only role that the operators assume in this account (rotator status, rotator audit --reader-role).',
        value: this.readerRole.roleArn,
      });
    }
  }
}

/**
 * The template of a member stack that takes the central role's ARN as a parameter, for a StackSet's TemplateBody.
 * It is synthesized in an app of its own, so that it shares nothing with the stack that embeds it.
 */
export function memberTemplate(props: Omit<MemberStackProps, 'centralRoleArn'>): Record<string, any> {
  const app = new App({ analyticsReporting: false, outdir: mkdtempSync(path.join(tmpdir(), 'rotator-member-')) });
  const stack = new MemberStack(app, 'Member', { ...props, description: 'IAM access key rotator: the member role.' });
  return app.synth().getStackByName(stack.stackName).template;
}
