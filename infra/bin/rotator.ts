/** The CDK app: reads the configuration file and the CDK context, then synthesizes the rotator stack under cdk-nag's AWS Solutions checks. */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConfigError } from '../lib/config';
import { type FirstValues, parseFirstValues } from '../lib/first-values';
import { RotatorStack } from '../lib/rotator-stack';
import { DEFAULT_STACK_NAME, contextString, fail, readConfig } from './context';

/** The environment variable that overrides the artifact path (CI points it at a dummy zip). */
const ARTIFACT_ENV = 'ROTATOR_ARTIFACT_PATH';

const app = new App();
const { config, configPath } = readConfig(app);

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

// The record of the first values already synthesized lives next to the configuration (rotator.config.json ->
// rotator.config.first-values.json): it pins each deployed secret's first value (see lib/first-values.ts).
const firstValuesPath = configPath.replace(/(\.json)?$/, '.first-values.json');
const firstValuesName = path.relative(process.cwd(), firstValuesPath) || firstValuesPath;
let firstValues: FirstValues | undefined;
if (existsSync(firstValuesPath)) {
  try {
    firstValues = parseFirstValues(JSON.parse(readFileSync(firstValuesPath, 'utf8')), firstValuesName);
  } catch (error) {
    fail(error instanceof SyntaxError ? `${firstValuesName}: not valid JSON (${error.message})` : (error as Error).message);
  }
}

let stack: RotatorStack;
try {
  stack = new RotatorStack(app, contextString(app, 'stackName') ?? DEFAULT_STACK_NAME, {
    description: 'IAM access key rotator: a Secrets Manager rotation Lambda and one rotated secret per managed user.',
    config,
    codePath,
    firstValues,
    firstValuesName,
  });
} catch (error) {
  if (error instanceof ConfigError) fail(error.message);
  throw error;
}

Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();

// Recorded once the synthesis has succeeded; a file that would not change is left alone.
const record = `${JSON.stringify(stack.firstValues, null, 2)}\n`;
// Written to a file of its own and renamed over the record, so that a synthesis running beside this one never
// reads half a file.
if (!existsSync(firstValuesPath) || readFileSync(firstValuesPath, 'utf8') !== record) {
  const partial = `${firstValuesPath}.${process.pid}.tmp`;
  writeFileSync(partial, record);
  renameSync(partial, firstValuesPath);
}
