/** The member-account app: synthesizes the member role stack for one account from the central configuration and the central role's ARN, under cdk-nag's AWS Solutions checks. */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { MemberStack } from '../lib/member-stack';
import { deploymentUserPath } from '../lib/user-grants';
import { DEFAULT_STACK_NAME, contextString, fail, readConfig } from './context';

/** A role ARN: any partition, a 12-digit account, a role name with its path. */
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;

const app = new App();
const { config } = readConfig(app);

const centralRoleArn = contextString(app, 'centralRoleArn');
if (centralRoleArn === undefined || !ROLE_ARN.test(centralRoleArn)) {
  fail(
    (centralRoleArn === undefined
      ? 'The member stack needs the central function\'s role: '
      : `-c centralRoleArn=${centralRoleArn} is not an IAM role ARN. The member stack needs the central function's role: `) +
      'pass -c centralRoleArn=ARN, the FunctionRoleArn output of the central stack ' +
      '(aws cloudformation describe-stacks --stack-name IamKeyRotator --query "Stacks[0].Outputs").',
  );
}
// The central deployment's name: the member role reaches the users under <managedUserPath><central stack name>/.
const central = contextString(app, 'stackName') ?? DEFAULT_STACK_NAME;

new MemberStack(app, contextString(app, 'memberStackName') ?? `${central}Member`, {
  description: `IAM access key rotator: the member role that the central deployment ${central} assumes in this account.`,
  centralRoleArn,
  roleName: config.memberRoleName,
  externalId: config.memberExternalId,
  deploymentUserPath: deploymentUserPath(config.managedUserPath, central),
  sweepPrincipalArns: config.sweepPrincipalArns,
  operatorPrincipalArns: config.operatorPrincipalArns,
  readerRoleName: config.readerRoleName,
  // The central account's reader role, which the central stack creates with the operators: same partition and account
  // as the central function's role, the configured name.
  centralReaderRoleArn:
    config.operatorPrincipalArns.length > 0
      ? `${centralRoleArn.split(':').slice(0, 5).join(':')}:role/${config.readerRoleName}`
      : undefined,
});

Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
