/** The CDK app: reads the configuration file and the CDK context, then synthesizes the rotator stack under cdk-nag's AWS Solutions checks. */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConfigError, parseConfig } from '../lib/config';
import { RotatorStack } from '../lib/rotator-stack';

/** The configuration file read when the context names none. */
const DEFAULT_CONFIG = 'rotator.config.json';
/** The environment variable that overrides the artifact path (CI points it at a dummy zip). */
const ARTIFACT_ENV = 'ROTATOR_ARTIFACT_PATH';

/** Stops the app with a message for a person, without a stack trace. */
function fail(message: string): never {
  console.error(message);
  process.exit(1);
}

/** A context value that must be a non-empty string when present. */
function contextString(app: App, key: string): string | undefined {
  const value: unknown = app.node.tryGetContext(key);
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '') fail(`The CDK context value "${key}" must be a non-empty string.`);
  return value;
}

const app = new App();

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

let config;
try {
  config = parseConfig(raw, configName);
} catch (error) {
  if (error instanceof ConfigError) fail(error.message);
  throw error;
}

// The artifact comes from the context ("-c artifactPath=PATH"), then the environment, then the configuration
// file; a path from the file is relative to that file, the others to the working directory.
const artifactOverride = contextString(app, 'artifactPath') ?? (process.env[ARTIFACT_ENV] || undefined);
const codePath = artifactOverride
  ? path.resolve(artifactOverride)
  : path.resolve(path.dirname(configPath), config.artifactPath);
if (!existsSync(codePath)) {
  fail(
    `The Lambda artifact ${codePath} does not exist. Build it with \`cargo xtask build\` ` +
      `(or point -c artifactPath=PATH or ${ARTIFACT_ENV} at a deployment zip).`,
  );
}

new RotatorStack(app, contextString(app, 'stackName') ?? 'IamKeyRotator', {
  description: 'IAM access key rotator: a Secrets Manager rotation Lambda and one rotated secret per managed user.',
  config,
  codePath,
});

Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
