/** Tests of the checkov skips: each names a check that does not apply to its resource and says why, and the concurrency check is skipped only while no reservedConcurrency is configured. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LOGICAL_IDS } from '../lib/rotator';
import { SECRETS_KEY_LOGICAL_ID } from '../lib/secret-access';
import { BASE_CONFIG, synthStack } from './support/fixtures';

/** The checkov skips of every resource of a template that has some, by logical id. */
function skips(fields: Record<string, unknown> = BASE_CONFIG): Record<string, { id: string; comment: string }[]> {
  const resources = synthStack(fields).template.toJSON().Resources as Record<string, any>;
  return Object.fromEntries(
    Object.entries(resources)
      .filter(([, r]) => r.Metadata?.checkov?.skip)
      .map(([id, r]) => [id, r.Metadata.checkov.skip]),
  );
}

describe('the checkov skips', () => {
  const found = skips();
  const functionId = Object.keys(found).find((id) => id.startsWith('RotatorFunction'))!;

  it('are exactly the checks that do not apply, on their resources', () => {
    const ids = Object.fromEntries(Object.entries(found).map(([id, list]) => [id, list.map((s) => s.id).sort()]));
    assert.deepEqual(ids, {
      [LOGICAL_IDS.logGroup]: ['CKV_AWS_158'],
      [functionId]: ['CKV_AWS_115', 'CKV_AWS_116', 'CKV_AWS_117', 'CKV_AWS_173'],
      [LOGICAL_IDS.deadLetterQueue]: ['CKV_AWS_27'],
      [LOGICAL_IDS.sweepDeadLetterQueue]: ['CKV_AWS_27'],
      // The wildcard principal that may decrypt only through Secrets Manager, as in aws/secretsmanager (issue 26, point 9).
      [SECRETS_KEY_LOGICAL_ID]: ['CKV_AWS_33'],
    });
  });

  it('each say why, in a sentence', () => {
    for (const list of Object.values(found)) {
      for (const skip of list) assert.ok(skip.comment.length > 80 && skip.comment.endsWith('.'), `${skip.id}: ${skip.comment}`);
    }
  });

  it('leave the concurrency check on when reservedConcurrency is set', () => {
    const withReserve = skips({ ...BASE_CONFIG, reservedConcurrency: 10 });
    const list = Object.entries(withReserve).find(([id]) => id.startsWith('RotatorFunction'))![1];
    assert.ok(!list.some((s) => s.id === 'CKV_AWS_115'));
    assert.ok(list.some((s) => s.id === 'CKV_AWS_116'));
  });
});
