/** Tests of the configuration validator: the defaults it fills in, and a message naming the field for each invalid one. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, DEFAULTS, MAX_MEMBER_ACCOUNTS, MAX_USERS, durationSeconds, isEmailAddress, parseConfig } from '../lib/config';
import { largestRotationDays, sweepPeriodSeconds } from '../lib/key-age';
import { INFRA_DIR } from './support/fixtures';

const MINIMAL = { users: [{ name: 'alice' }] };

/** Asserts that parsing fails with a message that contains each expected fragment. */
function rejects(raw: unknown, ...fragments: string[]): void {
  assert.throws(
    () => parseConfig(raw, 'rotator.config.json'),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
      for (const fragment of fragments) {
        assert.ok(error.message.includes(fragment), `message ${JSON.stringify(error.message)} lacks ${fragment}`);
      }
      return true;
    },
  );
}

/** Asserts that one field with one bad value is reported under that field's name. */
function rejectsField(field: string, value: unknown, fragment = 'must'): void {
  rejects({ ...MINIMAL, [field]: value }, `rotator.config.json: ${field} ${fragment}`);
}

describe('parseConfig', () => {
  it('fills in every default for a minimal file', () => {
    assert.deepEqual(parseConfig(MINIMAL, 'x.json'), {
      users: [{ name: 'alice' }],
      createSenderIdentity: true,
      defaultNotifyEmails: [],
      alertEmails: [],
      oldKeyPolicy: 'grace',
      grace: '24h',
      graceMax: '7d',
      usageLag: '4h',
      sweepSchedule: 'rate(1 hour)',
      memberRoleName: 'IamKeyRotatorMember',
      rotationDays: 81,
      maxKeyAgeDays: 90,
      accountConcurrency: 1000,
      testTimeoutSecs: 60,
      managedUserPath: '/rotated/',
      architecture: 'arm64',
      artifactPath: '../target/lambda/rotator-lambda/bootstrap.zip',
      // The first rotations are started after the deployment, in bounded batches (rotator rotate --all).
      rotateImmediately: false,
      logRetentionDays: 365,
      customerManagedKey: true,
      secretWriterArns: [],
      operatorPrincipalArns: [],
      readerRoleName: 'IamKeyRotatorReader',
      sweepPrincipalArns: [],
      // Contract §11 and §12: a stuck rotation is recovered after a day, and the sweep imports findings.
      stuckAfter: '24h',
      recoverPrincipalArns: [],
      securityHubFindings: true,
    });
    assert.equal(DEFAULTS.rotateImmediately, false);
  });

  it('keeps every field that is given', () => {
    const full = {
      users: [
        { name: 'svc+ci=x.y@z_w-1', notifyEmails: ['a@example.com', 'b@example.org'] },
        { name: 'svc+ci=x.y@z_w-1', notifyEmails: ['c@example.com'], account: '111122223333', adoptKey: 'AKIAIOSFODNN7EXAMPLE', readers: ['arn:aws:iam::111122223333:role/app'] },
      ],
      senderEmail: 'rotator@example.com',
      createSenderIdentity: false,
      defaultNotifyEmails: ['sec@example.com'],
      alertEmails: ['alerts@example.com'],
      oldKeyPolicy: 'grace',
      grace: '90s',
      graceMax: '30m',
      usageLag: '0s',
      sweepSchedule: 'cron(15 * * * ? *)',
      memberRoleName: 'KeyRotatorMember',
      memberExternalId: 'rotator-external-id',
      organization: { id: 'o-a1b2c3d4e5', organizationalUnits: ['ou-ab12-34cd56ef', 'r-ab12'], callAs: 'DELEGATED_ADMIN' },
      rotationDays: 1000,
      maxKeyAgeDays: 1002,
      testTimeoutSecs: 840,
      managedUserPath: '/team/rotated/',
      architecture: 'x86_64',
      artifactPath: 'dist/bootstrap.zip',
      rotateImmediately: false,
      logRetentionDays: 30,
      reservedConcurrency: 2,
      accountConcurrency: 102,
      customerManagedKey: false,
      secretWriterArns: ['arn:aws:iam::123456789012:role/break-glass'],
      operatorPrincipalArns: ['arn:aws:iam::123456789012:role/operators'],
      readerRoleName: 'KeyRotatorReader',
      sweepPrincipalArns: ['arn:aws:iam::123456789012:role/sweeper'],
      stuckAfter: '0s',
      recoverPrincipalArns: ['arn:aws:iam::123456789012:role/on-call'],
      securityHubFindings: false,
    };
    assert.deepEqual(parseConfig({ ...full, $comment: 'ignored' }, 'x.json'), full);
  });

  it('accepts the committed example file, which recommends grace and shows a user of a member account', () => {
    const example = JSON.parse(readFileSync(path.join(INFRA_DIR, 'rotator.config.example.json'), 'utf8'));
    const parsed = parseConfig(example, 'rotator.config.example.json');
    assert.equal(parsed.users.length, 3);
    assert.ok(parsed.senderEmail?.endsWith('@example.com'));
    assert.equal(example.oldKeyPolicy, 'grace');
    assert.deepEqual(parsed.users.filter((user) => user.account).map((user) => user.name), ['legacy-batch']);
  });

  it('names the file and the field of each problem, and reports them all at once', () => {
    rejects(
      { users: [{ name: 'ok' }, { name: 'bad name' }], rotationDays: 0 },
      'rotator.config.json: users[1].name must be an IAM user name',
      'rotator.config.json: rotationDays must be a whole number from 1 to 1000, got 0',
    );
  });

  it('rejects a file that is not an object', () => {
    rejects([], 'rotator.config.json: the file must hold one JSON object');
    rejects(null, 'the file must hold one JSON object');
  });

  it('rejects missing, empty or oversized user lists', () => {
    rejects({}, 'rotator.config.json: users must be a non-empty list');
    rejects({ users: [] }, 'users must be a non-empty list');
    rejects({ users: 'alice' }, 'users must be a non-empty list');
    const many = Array.from({ length: MAX_USERS + 1 }, (_, i) => ({ name: `u${i}` }));
    rejects({ users: many }, `users lists ${MAX_USERS + 1} users; one deployment manages at most ${MAX_USERS}`);
  });

  it('accepts thousands of users: the old cap of 40 is gone', () => {
    assert.equal(MAX_USERS, 10_000);
    for (const count of [41, 5_000, MAX_USERS]) {
      const users = Array.from({ length: count }, (_, i) => ({ name: `u${i}` }));
      assert.equal(parseConfig({ users }, 'x.json').users.length, count);
    }
  });

  it('rejects invalid user entries by index', () => {
    rejects({ users: ['alice'] }, 'users[0] must be an object');
    rejects({ users: [{}] }, 'users[0].name must be a non-empty string');
    rejects({ users: [{ name: 'a' }, { name: 'x'.repeat(65) }] }, 'users[1].name must be an IAM user name');
    rejects({ users: [{ name: 'a,b' }] }, 'users[0].name must be an IAM user name', 'comma');
    rejects({ users: [{ name: 'a/b' }] }, 'users[0].name must be an IAM user name');
    rejects({ users: [{ name: 'Alice' }, { name: 'alice' }] }, 'users[1].name repeats users[0].name (alice)');
    rejects({ users: [{ name: 'alice', nam: 'typo' }] }, 'users[0].nam is not a known field');
  });

  it('rejects invalid notify addresses by index', () => {
    rejects({ users: [{ name: 'a', notifyEmails: 'a@example.com' }] }, 'users[0].notifyEmails must be a list');
    rejects({ users: [{ name: 'a', notifyEmails: [] }] }, 'users[0].notifyEmails must list at least one');
    rejects({ users: [{ name: 'a', notifyEmails: ['ok@example.com', 'nope'] }] }, 'users[0].notifyEmails[1] must be an email address');
    rejects(
      { users: [{ name: 'a', notifyEmails: ['x@example.com', 'X@example.com'] }] },
      'users[0].notifyEmails lists X@example.com twice',
    );
    const long = Array.from({ length: 12 }, (_, i) => `someone-${i}@a-long-domain.example.com`);
    rejects({ users: [{ name: 'a', notifyEmails: long }] }, 'users[0].notifyEmails must fit in a 255-character tag');
  });

  it('rejects each invalid top-level field by name', () => {
    rejectsField('senderEmail', 'not-an-address', 'must be an email address');
    rejectsField('senderEmail', '', 'must be a non-empty string');
    rejects({ ...MINIMAL, defaultNotifyEmails: ['a@b'] }, 'defaultNotifyEmails[0] must be an email address');
    rejects({ ...MINIMAL, alertEmails: ['a@example.com', 'a b@example.com'] }, 'alertEmails[1] must be an email address');
    rejectsField('alertEmails', 'a@example.com', 'must be a list of email addresses');
    rejectsField('oldKeyPolicy', 'remove', 'must be one of grace, delete, deactivate, keep, got "remove"');
    rejectsField('rotationDays', 1001, 'must be a whole number from 1 to 1000');
    rejectsField('rotationDays', 1.5, 'must be a whole number');
    rejectsField('rotationDays', '90', 'must be a whole number');
    rejectsField('testTimeoutSecs', 0, 'must be a whole number from 1 to 840');
    rejectsField('testTimeoutSecs', 841, 'must be a whole number from 1 to 840');
    rejectsField('managedUserPath', '/', 'must not be "/"');
    rejectsField('managedUserPath', 'rotated', 'must be an IAM path');
    rejectsField('managedUserPath', '/rotated', 'must be an IAM path');
    rejectsField('managedUserPath', '/rot*ated/', 'must be an IAM path');
    rejectsField('managedUserPath', '/a//b/', 'must be an IAM path');
    rejectsField('architecture', 'aarch64', 'must be one of arm64, x86_64');
    rejectsField('artifactPath', '', 'must be a non-empty string');
    rejectsField('rotateImmediately', 'yes', 'must be true or false');
    rejectsField('createSenderIdentity', 'no', 'must be true or false');
    rejectsField('logRetentionDays', 366, 'must be a period that CloudWatch Logs offers');
    rejectsField('logRetentionDays', 0, 'must be a whole number');
    rejectsField('reservedConcurrency', 0, 'must be a whole number from 1 to 1000000');
    rejectsField('rotationdays', 30, 'is not a known field');
  });

  it('takes durations with their unit for the grace, and refuses a grace longer than its maximum', () => {
    assert.deepEqual(['90s', '30m', '24h', '7d', '0s'].map(durationSeconds), [90, 1_800, 86_400, 604_800, 0]);
    for (const bad of ['24', '1w', '-1h', '1.5h', ' 1h', '1H', '']) assert.equal(durationSeconds(bad), undefined, bad);
    const parsed = parseConfig({ ...MINIMAL, grace: '90s', graceMax: '90s', usageLag: '0s' }, 'x.json');
    assert.deepEqual([parsed.grace, parsed.graceMax, parsed.usageLag], ['90s', '90s', '0s']);
    rejectsField('grace', '24', 'must be a duration with its unit, such as "90s", "30m", "24h" or "7d", got "24"');
    rejectsField('grace', 86400, 'must be a duration with its unit');
    rejectsField('grace', '0s', 'must be longer than 0');
    rejectsField('graceMax', '1w', 'must be a duration with its unit');
    rejectsField('usageLag', '4 h', 'must be a duration with its unit');
    rejects({ ...MINIMAL, grace: '2d', graceMax: '36h' }, 'rotator.config.json: graceMax must be at least grace (2d), got "36h"');
    // The default maximum (7d) is checked against a longer grace too.
    rejects({ ...MINIMAL, grace: '8d' }, 'graceMax must be at least grace (8d), got "7d"');
  });

  it('reads stuckAfter (0s turns recovery off), securityHubFindings and recoverPrincipalArns, and names a bad one', () => {
    const parsed = parseConfig({ ...MINIMAL, stuckAfter: '0s', securityHubFindings: false, recoverPrincipalArns: ['arn:aws:iam::123456789012:role/on-call'] }, 'x.json');
    assert.deepEqual([parsed.stuckAfter, parsed.securityHubFindings, parsed.recoverPrincipalArns], ['0s', false, ['arn:aws:iam::123456789012:role/on-call']]);
    assert.equal(parseConfig({ ...MINIMAL, stuckAfter: '6h' }, 'x.json').stuckAfter, '6h');
    rejectsField('stuckAfter', '24', 'must be a duration with its unit');
    rejectsField('securityHubFindings', 'on', 'must be true or false, got "on"');
    rejects({ ...MINIMAL, recoverPrincipalArns: ['arn:aws:iam::123456789012:role/*'] }, 'recoverPrincipalArns[0] must name one principal, not a wildcard');
  });

  it('refuses the grace settings with another old-key policy', () => {
    rejects({ ...MINIMAL, oldKeyPolicy: 'delete', grace: '1h' }, 'rotator.config.json: grace applies only to oldKeyPolicy "grace", not "delete"');
    rejects({ ...MINIMAL, oldKeyPolicy: 'keep', usageLag: '0s' }, 'usageLag applies only to oldKeyPolicy "grace"');
    assert.equal(parseConfig({ ...MINIMAL, oldKeyPolicy: 'deactivate' }, 'x.json').oldKeyPolicy, 'deactivate');
  });

  it('takes the sweep schedule as a Scheduler rate or cron expression', () => {
    for (const good of ['rate(1 hour)', 'rate(30 minutes)', 'rate(2 days)', 'cron(0 * * * ? *)']) {
      assert.equal(parseConfig({ ...MINIMAL, sweepSchedule: good, rotationDays: 30 }, 'x.json').sweepSchedule, good);
    }
    for (const bad of ['rate(1 hours)', 'rate(2 hour)', 'rate(0 minutes)', 'every hour', 'at(2030-01-01T00:00:00)', 'cron()']) {
      rejectsField('sweepSchedule', bad, 'must be an EventBridge Scheduler expression');
    }
  });

  it('takes a user\'s account as 12 digits and names the user and field of a bad one', () => {
    const parsed = parseConfig({ users: [{ name: 'alice' }, { name: 'alice', account: '111122223333' }, { name: 'Alice', account: '444455556666' }] }, 'x.json');
    assert.deepEqual(parsed.users, [{ name: 'alice' }, { name: 'alice', account: '111122223333' }, { name: 'Alice', account: '444455556666' }]);
    for (const bad of ['11112222333', '1111222233334', 'abcdabcdabcd', 111122223333, '']) {
      rejects(
        { users: [{ name: 'ok' }, { name: 'bob', account: bad }] },
        'rotator.config.json: users[1].account must be an AWS account id of 12 digits, as a string (the account of the user "bob")',
        `got ${JSON.stringify(bad)}`,
      );
    }
    rejects(
      { users: [{ name: 'bob', account: '111122223333' }, { name: 'BOB', account: '111122223333' }] },
      'users[1].name repeats users[0].name (BOB in account 111122223333)',
    );
  });

  it('checks the member role name and the external id, which apply only with member accounts', () => {
    const withMember = { users: [{ name: 'bob', account: '111122223333' }] };
    assert.equal(parseConfig({ ...withMember, memberRoleName: 'Rotator.Member@x' }, 'x.json').memberRoleName, 'Rotator.Member@x');
    rejects({ ...withMember, memberRoleName: 'a/b' }, 'memberRoleName must be an IAM role name of 1 to 64');
    rejects({ ...withMember, memberRoleName: 'x'.repeat(65) }, 'memberRoleName must be an IAM role name');
    rejects({ ...withMember, memberExternalId: 'x' }, 'memberExternalId must be 2 to 1,224 of letters');
    rejects({ ...withMember, memberExternalId: 'has space' }, 'memberExternalId must be 2 to 1,224');
    rejects({ ...MINIMAL, memberExternalId: 'secret-ish' }, 'memberExternalId applies only when a user names an account or an organization is configured');
    rejects({ ...MINIMAL, memberRoleName: 'Other' }, 'memberRoleName applies only when a user names an account');
  });

  it(`refuses more than ${MAX_MEMBER_ACCOUNTS} member accounts without an organization`, () => {
    const users = (count: number) => Array.from({ length: count }, (_, i) => ({ name: 'svc', account: String(100_000_000_000 + i) }));
    assert.equal(parseConfig({ users: users(MAX_MEMBER_ACCOUNTS) }, 'x.json').users.length, MAX_MEMBER_ACCOUNTS);
    rejects({ users: users(MAX_MEMBER_ACCOUNTS + 1) }, `users name ${MAX_MEMBER_ACCOUNTS + 1} member accounts`, 'configure "organization"');
    const organization = { id: 'o-a1b2c3d4e5', organizationalUnits: ['ou-ab12-34cd56ef'] };
    assert.equal(parseConfig({ users: users(200), organization }, 'x.json').users.length, 200);
  });

  it('checks the organization: its id, its organizational units or root, and callAs', () => {
    const org = (fields: Record<string, unknown>) => ({ ...MINIMAL, organization: { id: 'o-a1b2c3d4e5', organizationalUnits: ['ou-ab12-34cd56ef'], ...fields } });
    assert.deepEqual(parseConfig(org({}), 'x.json').organization, { id: 'o-a1b2c3d4e5', organizationalUnits: ['ou-ab12-34cd56ef'], callAs: 'SELF' });
    rejects({ ...MINIMAL, organization: 'o-a1b2c3d4e5' }, 'rotator.config.json: organization must be an object');
    rejects(org({ id: 'a1b2c3d4e5' }), 'organization.id must be an organization id such as "o-a1b2c3d4e5", got "a1b2c3d4e5"');
    rejects(org({ organizationalUnits: [] }), 'organization.organizationalUnits must be a non-empty list');
    rejects(org({ organizationalUnits: ['ou-ab12-34cd56ef', '123456789012'] }), 'organization.organizationalUnits[1] must be an organizational unit id', 'got "123456789012"');
    rejects(org({ organizationalUnits: ['r-ab12', 'r-ab12'] }), 'organization.organizationalUnits[1] repeats r-ab12');
    rejects(org({ callAs: 'ADMIN' }), 'organization.callAs must be one of SELF, DELEGATED_ADMIN');
    rejects(org({ ous: [] }), 'organization.ous is not a known field');
  });

  it('refuses createSenderIdentity without a sender', () => {
    rejects({ ...MINIMAL, createSenderIdentity: true }, 'createSenderIdentity needs senderEmail');
  });
});

describe('reservedConcurrency', () => {
  it('leaves the 100 that Lambda keeps unreserved, from the account\'s quota', () => {
    assert.equal(parseConfig({ ...MINIMAL, reservedConcurrency: 900 }, 'x.json').reservedConcurrency, 900);
    // Before, 901 to 1000 passed the synthesis and failed the deployment (and rolled it back) at the function.
    rejectsField('reservedConcurrency', 901, 'must be at most accountConcurrency (1000) less the 100 that Lambda keeps unreserved, 900');
    assert.equal(parseConfig({ ...MINIMAL, reservedConcurrency: 4900, accountConcurrency: 5000 }, 'x.json').reservedConcurrency, 4900);
    rejects({ ...MINIMAL, reservedConcurrency: 5, accountConcurrency: 10 }, 'reservedConcurrency cannot be reserved in an account whose concurrency quota (accountConcurrency) is 10');
    rejects({ ...MINIMAL, accountConcurrency: 10 }, 'accountConcurrency applies only with reservedConcurrency');
  });
});

describe('maxKeyAgeDays', () => {
  it('makes the default rotationDays the largest whose keys stay within 90 days under the other defaults', () => {
    // 81 d + the 1-day rotation window + graceMax 7 d + the hourly sweep + the credential report's 4 h = 89 d 5 h.
    assert.equal(DEFAULTS.rotationDays, largestRotationDays(90, { oldKeyPolicy: 'grace', graceMaxSecs: 7 * 86_400, sweepSchedule: 'rate(1 hour)' }));
    assert.equal(DEFAULTS.rotationDays, 81);
    assert.equal(parseConfig({ ...MINIMAL, rotationDays: 81 }, 'x.json').rotationDays, 81);
    // Before, the default 90 left a previous key active up to 7 days past the 90 that the checks allow.
    rejects(
      { ...MINIMAL, rotationDays: 82 },
      'rotator.config.json: rotationDays lets a key stay active 90 d 5 h (rotationDays (82 d) + the rotation window (1 d) + graceMax (7 d) + the sweep\'s period (1 h, sweepSchedule) + IAM\'s credential report delay (4 h)), longer than maxKeyAgeDays (90 d)',
      'set rotationDays to at most 81',
    );
  });

  it('counts graceMax and the sweep only under grace, twice the interval under keep, and names the field set', () => {
    assert.equal(parseConfig({ ...MINIMAL, oldKeyPolicy: 'delete', rotationDays: 88 }, 'x.json').rotationDays, 88);
    rejects({ ...MINIMAL, oldKeyPolicy: 'delete', rotationDays: 89 }, 'rotationDays lets a key stay active 90 d 4 h', 'at most 88');
    assert.equal(parseConfig({ ...MINIMAL, oldKeyPolicy: 'keep', rotationDays: 43 }, 'x.json').rotationDays, 43);
    rejects({ ...MINIMAL, oldKeyPolicy: 'keep', rotationDays: 44 }, 'rotationDays lets a key stay active 90 d 4 h (2 × rotationDays (44 d)', 'at most 43');
    rejects({ ...MINIMAL, graceMax: '9d' }, 'rotator.config.json: graceMax lets a key stay active', 'set rotationDays to at most 79');
    rejects({ ...MINIMAL, sweepSchedule: 'rate(2 days)' }, 'rotator.config.json: sweepSchedule lets a key stay active', "the sweep's period (2 d, sweepSchedule)");
    rejects({ ...MINIMAL, sweepSchedule: 'cron(0 3 ? * MON *)' }, "the sweep's period (31 d, sweepSchedule)");
    assert.equal(parseConfig({ ...MINIMAL, sweepSchedule: 'cron(15 3 * * ? *)', rotationDays: 80 }, 'x.json').rotationDays, 80);
    assert.equal(parseConfig({ ...MINIMAL, maxKeyAgeDays: 365, rotationDays: 350 }, 'x.json').maxKeyAgeDays, 365);
    rejectsField('maxKeyAgeDays', 0, 'must be a whole number from 1 to 2000');
  });

  it('reads the sweep\'s longest gap from its expression', () => {
    assert.deepEqual(
      ['rate(1 hour)', 'rate(30 minutes)', 'rate(2 days)', 'cron(15 * * * ? *)', 'cron(0 3 * * ? *)', 'cron(0 3 ? * MON *)', 'cron(0 3 1 * ? *)'].map(sweepPeriodSeconds),
      [3_600, 1_800, 172_800, 3_600, 86_400, 31 * 86_400, 31 * 86_400],
    );
  });

  it('refuses a rotationDays shorter than grace + usageLag under grace', () => {
    rejects({ ...MINIMAL, rotationDays: 1, grace: '24h', usageLag: '4h' }, 'rotator.config.json: rotationDays must be at least grace (24h) + usageLag (4h)');
    assert.equal(parseConfig({ ...MINIMAL, rotationDays: 2 }, 'x.json').rotationDays, 2);
    assert.equal(parseConfig({ ...MINIMAL, oldKeyPolicy: 'delete', rotationDays: 1 }, 'x.json').rotationDays, 1);
  });
});

describe('adoptKey', () => {
  it('takes an access key id per user, and names the user and the field of a malformed one without echoing it', () => {
    const parsed = parseConfig({ users: [{ name: 'alice', adoptKey: 'AKIAIOSFODNN7EXAMPLE', readers: ['arn:aws:iam::111122223333:role/app'] }, { name: 'bob' }] }, 'x.json');
    assert.deepEqual(parsed.users, [{ name: 'alice', adoptKey: 'AKIAIOSFODNN7EXAMPLE', readers: ['arn:aws:iam::111122223333:role/app'] }, { name: 'bob' }]);
    for (const bad of ['akiaiosfodnn7example', 'AKIA', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 42, '']) {
      assert.throws(
        () => parseConfig({ users: [{ name: 'ok' }, { name: 'bob', adoptKey: bad }] }, 'rotator.config.json'),
        (error: Error) => {
          assert.match(error.message, /rotator\.config\.json: users\[1\]\.adoptKey must be an access key id of the user "bob"/);
          if (typeof bad === 'string' && bad.length > 4) assert.ok(!error.message.includes(bad), 'the value is not echoed');
          return true;
        },
      );
    }
  });
});

describe('isEmailAddress', () => {
  it('agrees with the function on what an address is', () => {
    for (const good of ['a@example.com', 'first.last+tag@sub.example.org']) assert.ok(isEmailAddress(good), good);
    for (const bad of ['', 'a', '@example.com', 'a@example', 'a@.example.com', 'a@example.com.', 'a b@example.com', 'a@b@example.com', 'a,b@example.com']) {
      assert.ok(!isEmailAddress(bad), bad);
    }
  });
});
