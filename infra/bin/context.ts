/** What both app entries share: reading the configuration file and the CDK context, and stopping with a message for a person. */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { App } from 'aws-cdk-lib';
import { ConfigError, type RotatorConfig, parseConfig } from '../lib/config';

/** The configuration file read when the context names none. */
export const DEFAULT_CONFIG = 'rotator.config.json';

/** The name of the central stack unless `-c stackName=...` says otherwise. */
export const DEFAULT_STACK_NAME = 'IamKeyRotator';

/** Stops the app with a message for a person, without a stack trace. */
export function fail(message: string): never {
  console.error(message);
  process.exit(1);
}

/** A context value that must be a non-empty string when present. */
export function contextString(app: App, key: string): string | undefined {
  const value: unknown = app.node.tryGetContext(key);
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '') fail(`The CDK context value "${key}" must be a non-empty string.`);
  return value;
}

/** The configuration named by `-c config=PATH` (or rotator.config.json), validated, with the path it was read from. */
export function readConfig(app: App): { config: RotatorConfig; configPath: string } {
  const configArg = contextString(app, 'config');
  const configPath = path.resolve(configArg ?? DEFAULT_CONFIG);
  const configName = configArg ?? DEFAULT_CONFIG;
  if (!existsSync(configPath)) {
    fail(
      configArg === undefined
        ? `${DEFAULT_CONFIG} not found in ${process.cwd()}. Copy rotator.config.example.json to ${DEFAULT_CONFIG} ` +
            'and edit it, or try the example with: npx cdk synth -c config=rotator.config.example.json'
        : `The configuration file ${configPath} (from -c config=${configArg}) does not exist.`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(configPath, 'utf8'));
  } catch (error) {
    fail(`${configName}: not valid JSON (${(error as Error).message})`);
  }
  try {
    return { config: parseConfig(raw, configName), configPath };
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
}
