/** Tests of the real app entry (bin/rotator.ts), run as `cdk synth` runs it: a child process fed the cdk.json context. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { CDK_JSON_CONTEXT, INFRA_DIR, dummyZip, tempDir } from './support/fixtures';

const ENTRY = path.join(INFRA_DIR, 'bin', 'rotator.ts');
const MEMBER_ENTRY = path.join(INFRA_DIR, 'bin', 'member.ts');
const CENTRAL_ROLE = 'arn:aws:iam::999988887777:role/IamKeyRotator-RotatorFunctionRole46F50AFB-AbCdEf';
const TSX = pathToFileURL(require.resolve('tsx')).href;

/** Runs the app with the given context, environment and working directory, as the CDK CLI would. */
function runApp(context: Record<string, unknown>, env: Record<string, string> = {}, cwd = INFRA_DIR, entry = ENTRY) {
  const outdir = tempDir();
  const child = spawn(process.execPath, ['--import', TSX, entry], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      CDK_OUTDIR: outdir,
      CDK_CONTEXT_JSON: JSON.stringify({ ...CDK_JSON_CONTEXT, ...context }),
      ...env,
    },
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdout.resume();
  return new Promise<{ status: number | null; stderr: string; outdir: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stderr, outdir }));
  });
}

/** The synthesized template of a successful run. */
function templateOf(outdir: string, stackName = 'IamKeyRotator'): any {
  return JSON.parse(readFileSync(path.join(outdir, `${stackName}.template.json`), 'utf8'));
}

// The runs are child processes that mostly wait on each other's CPU, so two at a time suit two cores.
describe('bin/rotator.ts', { concurrency: 2 }, () => {
  it('synthesizes the example configuration with the artifact from ROTATOR_ARTIFACT_PATH', async () => {
    const run = await runApp({ config: 'rotator.config.example.json' }, { ROTATOR_ARTIFACT_PATH: dummyZip() });
    assert.equal(run.status, 0, run.stderr);
    const template = templateOf(run.outdir);
    // The secrets live in the nested stacks of their shards, whose templates sit next to the parent's.
    const nested = readdirSync(run.outdir).filter((file) => file.endsWith('.nested.template.json'));
    assert.equal(nested.length, Object.values(template.Resources).filter((r: any) => r.Type === 'AWS::CloudFormation::Stack').length);
    const secrets = nested
      .flatMap((file) => Object.values(JSON.parse(readFileSync(path.join(run.outdir, file), 'utf8')).Resources))
      .filter((r: any) => r.Type === 'AWS::SecretsManager::Secret');
    assert.deepEqual(
      secrets.map((s: any) => s.Properties.Name).sort(),
      ['IamKeyRotator/111122223333/legacy-batch', 'IamKeyRotator/ci-deployer', 'IamKeyRotator/reporting-export'],
    );
    assert.ok(template.Description.startsWith('IAM access key rotator'));
    // The zip is staged as the function's asset, unchanged.
    const asset = Object.values(JSON.parse(readFileSync(path.join(run.outdir, 'IamKeyRotator.assets.json'), 'utf8')).files)[0] as any;
    assert.equal(asset.source.packaging, 'file');
    assert.deepEqual(readFileSync(path.join(run.outdir, asset.source.path)), readFileSync(dummyZip()));
  });

  it('takes the artifact and the stack name from the context', async () => {
    const run = await runApp({ config: 'rotator.config.example.json', artifactPath: dummyZip(), stackName: 'KeyRotatorTest' });
    assert.equal(run.status, 0, run.stderr);
    assert.ok(templateOf(run.outdir, 'KeyRotatorTest').Resources.AlertTopic);
  });

  it('resolves the artifact path of the file against the file', async () => {
    const dir = tempDir();
    writeFileSync(
      path.join(dir, 'my.config.json'),
      JSON.stringify({ users: [{ name: 'alice' }], artifactPath: path.relative(dir, dummyZip()) }),
    );
    const run = await runApp({ config: path.join(dir, 'my.config.json') });
    assert.equal(run.status, 0, run.stderr);
  });

  it('tells the user to run cargo xtask build when the zip is missing', async () => {
    const run = await runApp({ config: 'rotator.config.example.json', artifactPath: path.join(tempDir(), 'missing.zip') });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /missing\.zip does not exist\. Build it with `cargo xtask build`/);
  });

  it('names the file and field of an invalid configuration', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ users: [{ name: 'ok' }, { name: 'not ok' }], oldKeyPolicy: 'drop' }));
    const run = await runApp({ config: file, artifactPath: dummyZip() });
    assert.equal(run.status, 1);
    assert.match(run.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: users\\[1\\]\\.name must be`));
    assert.match(run.stderr, /: oldKeyPolicy must be one of grace, delete, deactivate, keep/);
    writeFileSync(file, '{ not json');
    assert.match((await runApp({ config: file })).stderr, /bad\.json: not valid JSON/);
  });

  it('asks for rotator.config.json, and falls back to the example only when told', async () => {
    const run = await runApp({}, {}, tempDir());
    assert.equal(run.status, 1);
    assert.match(run.stderr, /rotator\.config\.json not found/);
    assert.match(run.stderr, /-c config=rotator\.config\.example\.json/);
    const missing = await runApp({ config: 'nowhere.json' });
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /nowhere\.json \(from -c config=nowhere\.json\) does not exist/);
    assert.ok(!existsSync(path.join(missing.outdir, 'IamKeyRotator.template.json')));
  });
});

describe('bin/member.ts', { concurrency: 2 }, () => {
  it('synthesizes the member role of the example configuration for the central role it is given', async () => {
    const run = await runApp({ config: 'rotator.config.example.json', centralRoleArn: CENTRAL_ROLE }, {}, INFRA_DIR, MEMBER_ENTRY);
    assert.equal(run.status, 0, run.stderr);
    const template = templateOf(run.outdir, 'IamKeyRotatorMember');
    const role = template.Resources.MemberRole;
    assert.equal(role.Properties.RoleName, 'IamKeyRotatorMember');
    assert.deepEqual(role.Properties.AssumeRolePolicyDocument.Statement[0].Principal, { AWS: CENTRAL_ROLE });
    assert.match(JSON.stringify(role.Properties.Policies), /:user\/rotated\/IamKeyRotator\/\*/);
    // It needs no artifact, and no Lambda function is in it.
    assert.ok(!JSON.stringify(template).includes('AWS::Lambda::Function'));
  });

  it('follows the central stack\'s name and the member stack\'s name from the context', async () => {
    const run = await runApp(
      { config: 'rotator.config.example.json', centralRoleArn: CENTRAL_ROLE, stackName: 'Central', memberStackName: 'RotatorMember' },
      {},
      INFRA_DIR,
      MEMBER_ENTRY,
    );
    assert.equal(run.status, 0, run.stderr);
    assert.match(JSON.stringify(templateOf(run.outdir, 'RotatorMember').Resources.MemberRole), /:user\/rotated\/Central\/\*/);
  });

  it('asks for the central role\'s ARN, and refuses one that is not a role\'s', async () => {
    const missing = await runApp({ config: 'rotator.config.example.json' }, {}, INFRA_DIR, MEMBER_ENTRY);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /needs the central function's role: pass -c centralRoleArn=ARN, the FunctionRoleArn output/);
    const bad = await runApp({ config: 'rotator.config.example.json', centralRoleArn: 'arn:aws:iam::999988887777:user/alice' }, {}, INFRA_DIR, MEMBER_ENTRY);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /-c centralRoleArn=arn:aws:iam::999988887777:user\/alice is not an IAM role ARN/);
  });

  it('names the file and field of an invalid configuration', async () => {
    const file = path.join(tempDir(), 'bad.json');
    writeFileSync(file, JSON.stringify({ users: [{ name: 'bob', account: '1234' }] }));
    const run = await runApp({ config: file, centralRoleArn: CENTRAL_ROLE }, {}, INFRA_DIR, MEMBER_ENTRY);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /bad\.json: users\[0\]\.account must be an AWS account id of 12 digits, as a string \(the account of the user "bob"\)/);
  });
});
