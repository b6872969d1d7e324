/** Tests of the secrets' first values: their exact text (pinned, so that a change of shape fails here before it can rewrite a deployed secret), adoptKey at creation only, and the record that keeps deployed users' first values. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { Template } from 'aws-cdk-lib/assertions';
import { firstSecretValue, parseFirstValues, pinFirstValues } from '../lib/first-values';
import { secretLogicalId } from '../lib/secret-shard';
import { shardOf } from '../lib/shards';
import { CDK_JSON_CONTEXT, INFRA_DIR, config, dummyZip, synthStack, tempDir, testApp } from './support/fixtures';
import { RotatorStack, RotatorStack as Stack } from '../lib/rotator-stack';

const USERS = [
  { name: 'alice' },
  { name: 'bob', account: '111122223333' },
  { name: 'carol', adoptKey: 'AKIAIOSFODNN7EXAMPLE' },
  { name: 'dave', account: '444455556666', adoptKey: 'AKIAI44QH8DHBEXAMPLE' },
];

/**
 * The first values of deployed users, byte for byte. Every secret deployed so far was created with one of these texts:
 * if this test fails, the change would make CloudFormation write a new AWSCURRENT, without a key, over every deployed
 * secret. Do not update the expected texts; keep the old shape for existing users.
 */
const PINNED = {
  alice: '{"UserName":"alice"}',
  '111122223333/bob': '{"UserName":"bob","AccountId":"111122223333"}',
  carol: '{"UserName":"carol","AdoptAccessKeyId":"AKIAIOSFODNN7EXAMPLE"}',
  '444455556666/dave': '{"UserName":"dave","AccountId":"444455556666","AdoptAccessKeyId":"AKIAI44QH8DHBEXAMPLE"}',
};

/** The SecretString of each user's secret in a synthesized stack, by user key. */
function secretStrings(stack: RotatorStack, keys: string[]): Record<string, string> {
  return Object.fromEntries(
    keys.map((key) => {
      const shard = Template.fromStack(stack.rotator.shards.get(shardOf(key))!);
      return [key, shard.findResources('AWS::SecretsManager::Secret')[secretLogicalId(key)].Properties.SecretString];
    }),
  );
}

describe('the first values of the secrets', () => {
  it('are exactly the pinned texts, in the template as from firstSecretValue', () => {
    const { stack } = synthStack({ users: USERS });
    assert.deepEqual(secretStrings(stack, Object.keys(PINNED)), PINNED);
    assert.deepEqual(USERS.map((user) => firstSecretValue(config({ users: [user] }).users[0])), Object.values(PINNED));
  });

  it('put adoptKey in a new secret\'s first value as AdoptAccessKeyId', () => {
    const { stack } = synthStack({ users: [{ name: 'carol', adoptKey: 'AKIAIOSFODNN7EXAMPLE' }] });
    assert.deepEqual(JSON.parse(secretStrings(stack, ['carol']).carol), { UserName: 'carol', AdoptAccessKeyId: 'AKIAIOSFODNN7EXAMPLE' });
  });

  it('keep a recorded user\'s first value verbatim, whatever the code would write now', () => {
    // A value recorded in an older shape (spaces, another order) stays as it was: the template never changes it.
    const recorded = { TestRotator: { alice: '{"UserName": "alice"}' } };
    const app = testApp();
    const stack = new Stack(app, 'TestRotator', { config: config({ users: [{ name: 'alice' }, { name: 'erin' }] }), codePath: dummyZip(), firstValues: recorded });
    assert.deepEqual(secretStrings(stack, ['alice', 'erin']), { alice: '{"UserName": "alice"}', erin: '{"UserName":"erin"}' });
    assert.deepEqual(stack.firstValues, { TestRotator: { alice: '{"UserName": "alice"}', erin: '{"UserName":"erin"}' } });
  });

  it('refuse adoptKey for a secret already deployed, and say to run rotator adopt instead', () => {
    const recorded = { TestRotator: { alice: '{"UserName":"alice"}' } };
    const make = () =>
      new Stack(testApp(), 'TestRotator', {
        config: config({ users: [{ name: 'alice', adoptKey: 'AKIAIOSFODNN7EXAMPLE' }] }),
        codePath: dummyZip(),
        firstValues: recorded,
        firstValuesName: 'rotator.config.first-values.json',
      });
    // Before the record, adoptKey added to a deployed user changed its SecretString, and CloudFormation would have
    // replaced the rotated value and its key.
    assert.throws(make, /rotator\.config\.first-values\.json: users\[0\]\.adoptKey: the secret TestRotator\/alice exists already .* Run `rotator adopt TestRotator\/alice --key AKIAIOSFODNN7EXAMPLE` instead/s);
    // The same adoptKey that the secret was created with is no problem.
    const created = { TestRotator: { alice: PINNED.carol.replace(/carol/g, 'alice') } };
    assert.doesNotThrow(() =>
      new Stack(testApp(), 'TestRotator', { config: config({ users: [{ name: 'alice', adoptKey: 'AKIAIOSFODNN7EXAMPLE' }] }), codePath: dummyZip(), firstValues: created }),
    );
  });

  it('leave the record when their user leaves the configuration, and keep other stacks\' records', () => {
    const pinned = pinFirstValues('A', [{ name: 'bob' }], { A: { alice: '{"UserName":"alice"}' }, B: { x: '{"UserName":"x"}' } }, 'r.json');
    assert.deepEqual(pinned.record, { A: { bob: '{"UserName":"bob"}' }, B: { x: '{"UserName":"x"}' } });
    assert.throws(() => parseFirstValues({ A: { alice: 1 } }, 'r.json'), /r\.json: A\.alice must be the first value's JSON text/);
    assert.throws(() => parseFirstValues([], 'r.json'), /r\.json: must hold one JSON object/);
  });
});

describe('bin/rotator.ts and the record of first values', () => {
  const TSX = pathToFileURL(require.resolve('tsx')).href;
  const run = (cwd: string) =>
    new Promise<{ status: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', TSX, path.join(INFRA_DIR, 'bin', 'rotator.ts')], {
        cwd,
        stdio: ['ignore', 'ignore', 'pipe'],
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '',
          CDK_OUTDIR: tempDir(),
          CDK_CONTEXT_JSON: JSON.stringify({ ...CDK_JSON_CONTEXT, config: 'rotator.config.json', artifactPath: dummyZip() }),
        },
      });
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      child.on('error', reject);
      child.on('close', (status) => resolve({ status, stderr }));
    });

  it('records the first values next to the configuration, and refuses adoptKey added later for a recorded user', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'rotator.config.json'), JSON.stringify({ users: [{ name: 'alice' }] }));
    const first = await run(dir);
    assert.equal(first.status, 0, first.stderr);
    const recordFile = path.join(dir, 'rotator.config.first-values.json');
    assert.deepEqual(JSON.parse(readFileSync(recordFile, 'utf8')), { IamKeyRotator: { alice: '{"UserName":"alice"}' } });
    writeFileSync(path.join(dir, 'rotator.config.json'), JSON.stringify({ users: [{ name: 'alice', adoptKey: 'AKIAIOSFODNN7EXAMPLE' }] }));
    const second = await run(dir);
    assert.equal(second.status, 1);
    assert.match(second.stderr, /users\[0\]\.adoptKey: the secret IamKeyRotator\/alice exists already/);
    assert.match(second.stderr, /rotator adopt IamKeyRotator\/alice --key AKIAIOSFODNN7EXAMPLE/);
    assert.ok(!second.stderr.includes('    at '), 'no stack trace');
    // The record is unchanged by the refused run.
    assert.deepEqual(JSON.parse(readFileSync(recordFile, 'utf8')), { IamKeyRotator: { alice: '{"UserName":"alice"}' } });
  });
});
