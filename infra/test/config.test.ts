/** Tests of the configuration validator: the defaults it fills in, and a message naming the field for each invalid one. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, DEFAULTS, MAX_USERS, isEmailAddress, parseConfig } from '../lib/config';
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
      oldKeyPolicy: 'delete',
      rotationDays: 90,
      testTimeoutSecs: 60,
      managedUserPath: '/rotated/',
      architecture: 'arm64',
      artifactPath: '../target/lambda/rotator-lambda/bootstrap.zip',
      rotateImmediately: true,
      logRetentionDays: 365,
    });
    assert.equal(DEFAULTS.rotateImmediately, true);
  });

  it('keeps every field that is given', () => {
    const full = {
      users: [{ name: 'svc+ci=x.y@z_w-1', notifyEmails: ['a@example.com', 'b@example.org'] }],
      senderEmail: 'rotator@example.com',
      createSenderIdentity: false,
      defaultNotifyEmails: ['sec@example.com'],
      alertEmails: ['alerts@example.com'],
      oldKeyPolicy: 'keep',
      rotationDays: 1000,
      testTimeoutSecs: 840,
      managedUserPath: '/team/rotated/',
      architecture: 'x86_64',
      artifactPath: 'dist/bootstrap.zip',
      rotateImmediately: false,
      logRetentionDays: 30,
      reservedConcurrency: 2,
    };
    assert.deepEqual(parseConfig({ ...full, $comment: 'ignored' }, 'x.json'), full);
  });

  it('accepts the committed example file', () => {
    const example = JSON.parse(readFileSync(path.join(INFRA_DIR, 'rotator.config.example.json'), 'utf8'));
    const parsed = parseConfig(example, 'rotator.config.example.json');
    assert.equal(parsed.users.length, 3);
    assert.ok(parsed.senderEmail?.endsWith('@example.com'));
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
    rejectsField('oldKeyPolicy', 'remove', 'must be one of delete, deactivate, keep, got "remove"');
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
    rejectsField('reservedConcurrency', 0, 'must be a whole number from 1 to 1000');
    rejectsField('rotationdays', 30, 'is not a known field');
  });

  it('refuses createSenderIdentity without a sender', () => {
    rejects({ ...MINIMAL, createSenderIdentity: true }, 'createSenderIdentity needs senderEmail');
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
