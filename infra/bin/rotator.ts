/** The CDK app: reads the configuration file and the CDK context, then synthesizes the rotator stack under cdk-nag's AWS Solutions checks. */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
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

new RotatorStack(app, contextString(app, 'stackName') ?? DEFAULT_STACK_NAME, {
  description: 'IAM access key rotator: a Secrets Manager rotation Lambda and one rotated secret per managed user.',
  config,
  codePath,
});

Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
