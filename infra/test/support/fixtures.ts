/** Shared test fixtures: a tiny stand-in for the Lambda zip, the cdk.json context, and a ready-made stack. */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App, type AppProps } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { parseConfig, type RotatorConfig } from '../../lib/config';
import { RotatorStack } from '../../lib/rotator-stack';

/** The infra/ directory. */
export const INFRA_DIR = path.resolve(__dirname, '..', '..');

/** The CRC-32 of a buffer, as the zip format needs it. */
function crc32(data: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** Writes a valid zip that holds one stored (uncompressed) `bootstrap` script, and returns its path. */
export function writeDummyZip(zipPath: string): string {
  const name = Buffer.from('bootstrap');
  const body = Buffer.from('#!/bin/sh\necho "dummy rotator artifact for tests" >&2\nexit 1\n');
  const crc = crc32(body);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(10, 4);
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(body.length, 18);
  local.writeUInt32LE(body.length, 22);
  local.writeUInt16LE(name.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(0x031e, 4); // Made by Unix, so that the mode below is honoured.
  central.writeUInt16LE(10, 6);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(body.length, 20);
  central.writeUInt32LE(body.length, 24);
  central.writeUInt16LE(name.length, 28);
  central.writeUInt32LE((0o100755 << 16) >>> 0, 38);
  const centralOffset = local.length + name.length + body.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(central.length + name.length, 12);
  end.writeUInt32LE(centralOffset, 16);
  mkdirSync(path.dirname(zipPath), { recursive: true });
  writeFileSync(zipPath, Buffer.concat([local, name, body, central, name, end]));
  return zipPath;
}

const tempDirs: string[] = [];
process.on('exit', () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary directory, removed when the process exits. */
export function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'rotator-infra-'));
  tempDirs.push(dir);
  return dir;
}

let sharedZip: string | undefined;
/** The dummy zip shared by the tests of one process. */
export function dummyZip(): string {
  sharedZip ??= writeDummyZip(path.join(tempDir(), 'bootstrap.zip'));
  return sharedZip;
}

/** The feature flags of cdk.json, so that tests synthesize exactly what `cdk synth` does. */
export const CDK_JSON_CONTEXT: Record<string, unknown> = JSON.parse(
  readFileSync(path.join(INFRA_DIR, 'cdk.json'), 'utf8'),
).context;

/** An App with the cdk.json context and a throw-away output directory. */
export function testApp(props: AppProps = {}): App {
  return new App({ outdir: tempDir(), ...props, context: { ...CDK_JSON_CONTEXT, ...props.context } });
}

/** A configuration built from the given fields, validated like a real file. */
export function config(fields: Record<string, unknown>): RotatorConfig {
  return parseConfig(fields, 'test.config.json');
}

/** The configuration most tests use: two users, one with NotifyEmail addresses. */
export const BASE_CONFIG = {
  users: [{ name: 'alice', notifyEmails: ['alice@example.com', 'team@example.com'] }, { name: 'bob' }],
  managedUserPath: '/rotated/',
  senderEmail: 'rotator@example.com',
  defaultNotifyEmails: ['security@example.com'],
  alertEmails: ['alerts@example.com', 'oncall@example.com'],
};

/** Synthesizes a RotatorStack for a configuration and returns the stack and its template. */
export function synthStack(fields: Record<string, unknown> = BASE_CONFIG, app: App = testApp(), stackName = 'TestRotator') {
  const stack = new RotatorStack(app, stackName, { config: config(fields), codePath: dummyZip() });
  return { app, stack, template: Template.fromStack(stack) };
}

// Run directly, this file writes a dummy zip at the given path (for synthesizing without the Rust build).
if (require.main === module) {
  const target = process.argv[2];
  if (!target) {
    console.error('usage: node --import tsx test/support/fixtures.ts PATH.zip');
    process.exit(2);
  }
  console.log(writeDummyZip(path.resolve(target)));
}
