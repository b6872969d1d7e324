/** The IAM statements that let a role manage the access keys and the rotator's own tags of a deployment's users: the central function's role and every member role share them. */
import * as iam from 'aws-cdk-lib/aws-iam';

/** The IAM actions that the function needs on the access keys and tags of each managed user, tagging aside. */
export const IAM_KEY_ACTIONS = [
  'iam:ListAccessKeys',
  'iam:CreateAccessKey',
  'iam:UpdateAccessKey',
  'iam:DeleteAccessKey',
  'iam:ListUserTags',
  // The sweep reads when an old key was last used before it retires the key.
  'iam:GetAccessKeyLastUsed',
];

/** The IAM actions that write user tags; they are granted for the rotator's own tag keys only. */
export const IAM_TAG_ACTIONS = ['iam:TagUser', 'iam:UntagUser'];

/** Every IAM action that the function has on managed users. */
export const IAM_USER_ACTIONS = [...IAM_KEY_ACTIONS, ...IAM_TAG_ACTIONS];

/**
 * The tag keys that the function may write or remove: its intent records ("rotator:intent:<token>") and
 * key records ("rotator:key:<AccessKeyId>"). No other key is within its reach, so a compromised function
 * cannot tag a user into permissions that tag-based policies elsewhere might grant.
 */
export const ROTATOR_TAG_KEYS = 'rotator:*';

/** The statement ids of the two statements, the same in every role that holds them. */
export const USER_STATEMENT_IDS = {
  keys: 'ManageAccessKeysOfManagedUsers',
  tags: 'TagManagedUsersWithRotatorKeysOnly',
} as const;

/**
 * The two statements over the users whose ARNs match `usersArn` (a user path followed by "*"): key management,
 * and tagging with the rotator's own tag keys only.
 */
export function managedUserStatements(usersArn: string): iam.PolicyStatement[] {
  return [
    new iam.PolicyStatement({
      sid: USER_STATEMENT_IDS.keys,
      actions: IAM_KEY_ACTIONS,
      // Only users under the deployment's path: a user elsewhere (another deployment's included) is out of
      // reach even if a secret names it. GetAccessKeyLastUsed names only a key, but IAM authorizes it against
      // the key's user, so it is scoped the same way.
      resources: [usersArn],
    }),
    new iam.PolicyStatement({
      sid: USER_STATEMENT_IDS.tags,
      actions: IAM_TAG_ACTIONS,
      resources: [usersArn],
      conditions: {
        // Every tag key of the request must be one of the rotator's; ForAllValues alone would also pass a
        // request without tag keys, which the Null test refuses.
        'ForAllValues:StringLike': { 'aws:TagKeys': ROTATOR_TAG_KEYS },
        Null: { 'aws:TagKeys': 'false' },
      },
    }),
  ];
}

/** The IAM path of a deployment's users: the base path followed by the central stack's name, the same in every account. */
export function deploymentUserPath(managedUserPath: string, deploymentName: string): string {
  return `${managedUserPath}${deploymentName}/`;
}
