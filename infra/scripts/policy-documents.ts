/** Writes every policy document of a cloud assembly (identity, trust, key, topic, queue and secret policies, nested stacks and StackSet templates included) to a file of its own, with intrinsics replaced by example values, so that parliament can lint them; prints the directory. */
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import * as path from 'node:path';

type Template = { Resources?: Record<string, any>; Parameters?: Record<string, any> };

/** The example values of the pseudo parameters. */
const PSEUDO: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::Region': 'us-east-1',
  'AWS::AccountId': '123456789012',
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::StackName': 'IamKeyRotator',
};

/** The ARN of a resource of the template, by its type, as `Fn::GetAtt [id, Arn]` or `Ref` would give it. */
function arnOf(id: string, type: string | undefined, attribute: string): string {
  const at = 'us-east-1:123456789012';
  switch (type) {
    case 'AWS::IAM::Role':
      return `arn:aws:iam::123456789012:role/${id}`;
    case 'AWS::Lambda::Function':
      return attribute === 'Ref' ? id : `arn:aws:lambda:${at}:function:${id}`;
    case 'AWS::SQS::Queue':
      return attribute === 'Ref' ? `https://sqs.us-east-1.amazonaws.com/123456789012/${id}` : `arn:aws:sqs:${at}:${id}`;
    case 'AWS::SNS::Topic':
      return `arn:aws:sns:${at}:${id}`;
    case 'AWS::KMS::Key':
      return attribute === 'Ref' ? '1234abcd-12ab-34cd-56ef-1234567890ab' : `arn:aws:kms:${at}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
    case 'AWS::Logs::LogGroup':
      return attribute === 'Ref' ? id : `arn:aws:logs:${at}:log-group:${id}:*`;
    case 'AWS::Events::Rule':
      return `arn:aws:events:${at}:rule/${id}`;
    case 'AWS::CloudWatch::Alarm':
      return attribute === 'Ref' ? id : `arn:aws:cloudwatch:${at}:alarm:${id}`;
    case 'AWS::SecretsManager::Secret':
      return `arn:aws:secretsmanager:${at}:secret:IamKeyRotator/${id}-AbCdEf`;
    case 'AWS::Scheduler::Schedule':
      return attribute === 'Ref' ? id : `arn:aws:scheduler:${at}:schedule/default/${id}`;
    default:
      return id;
  }
}

/** Replaces the intrinsics of `value` with example values; `parameters` gives the value of each parameter. */
function resolve(value: any, template: Template, parameters: Record<string, any>): any {
  if (Array.isArray(value)) return value.map((v) => resolve(v, template, parameters));
  if (value === null || typeof value !== 'object') return value;
  if (typeof value.Ref === 'string') {
    if (value.Ref in PSEUDO) return PSEUDO[value.Ref];
    if (value.Ref in parameters) return parameters[value.Ref];
    return arnOf(value.Ref, template.Resources?.[value.Ref]?.Type, 'Ref');
  }
  if (Array.isArray(value['Fn::GetAtt'])) {
    const [id, attribute] = value['Fn::GetAtt'];
    return arnOf(id, template.Resources?.[id]?.Type, attribute);
  }
  if (Array.isArray(value['Fn::Join'])) {
    return resolve(value['Fn::Join'][1], template, parameters).join(value['Fn::Join'][0]);
  }
  if (value['Fn::ImportValue'] !== undefined) {
    // Another stack's export (the member-roles stack imports the central function role's and reader role's ARNs): an
    // example role ARN, as the exporting stack's role ARN would look.
    return 'arn:aws:iam::123456789012:role/ImportedFromTheCentralStack';
  }
  if (value['Fn::GetStackOutput'] !== undefined) {
    // Another stack's output (the member-roles stack reads the central function role's ARN this way): an example role
    // ARN named after the output, as the central stack's role ARN would look.
    return `arn:aws:iam::123456789012:role/${value['Fn::GetStackOutput'].OutputName}`;
  }
  if (typeof value['Fn::Sub'] === 'string') {
    return value['Fn::Sub'].replace(/\$\{([^}]+)\}/g, (_: string, name: string) => resolve({ Ref: name }, template, parameters));
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, template, parameters)]));
}

/** The policy documents of one resource, each with a name for its file. */
function documentsOf(id: string, resource: any): [string, any][] {
  const p = resource.Properties ?? {};
  switch (resource.Type) {
    case 'AWS::IAM::Policy':
      return [[`${id}.identity`, p.PolicyDocument]];
    case 'AWS::IAM::Role':
      return [
        [`${id}.trust`, p.AssumeRolePolicyDocument],
        ...(p.Policies ?? []).map((policy: any) => [`${id}.${policy.PolicyName}.identity`, policy.PolicyDocument] as [string, any]),
      ];
    case 'AWS::KMS::Key':
      return [[`${id}.key`, p.KeyPolicy]];
    case 'AWS::SNS::TopicPolicy':
    case 'AWS::SQS::QueuePolicy':
      return [[`${id}.resource`, p.PolicyDocument]];
    case 'AWS::SecretsManager::ResourcePolicy':
      return [[`${id}.resource`, p.ResourcePolicy]];
    default:
      return [];
  }
}

/**
 * Writes the policy documents of the templates of `dir` (the top-level ones, their nested stacks with the parameters
 * that the parent passes, and the templates of their StackSets) into `out`, one file per distinct document, named
 * `<template>.<logical id>.<kind>.json` after its first occurrence. Returns how many it wrote.
 */
export function writePolicyDocuments(dir: string, out: string): number {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const seen = new Set<string>();
  const write = (name: string, document: unknown) => {
    const text = JSON.stringify(document, null, 1);
    const hash = createHash('sha256').update(text).digest('hex');
    if (seen.has(hash)) return;
    seen.add(hash);
    writeFileSync(path.join(out, `${name}.json`), text);
  };
  const visit = (name: string, template: Template, parameters: Record<string, any>) => {
    for (const [id, resource] of Object.entries(template.Resources ?? {})) {
      for (const [suffix, document] of documentsOf(id, resource)) {
        if (document !== undefined) write(`${name}.${suffix}`, resolve(document, template, parameters));
      }
      const props = resource.Properties ?? {};
      if (resource.Type === 'AWS::CloudFormation::Stack') {
        const file = resource.Metadata?.['aws:asset:path'];
        if (typeof file !== 'string') throw new Error(`the nested stack ${id} of ${name} names no template file (aws:asset:path)`);
        const passed = resolve(props.Parameters ?? {}, template, parameters);
        visit(`${name}.${id}`, JSON.parse(readFileSync(path.join(dir, file), 'utf8')), passed);
      }
      if (resource.Type === 'AWS::CloudFormation::StackSet' && typeof props.TemplateBody === 'string') {
        const passed = Object.fromEntries(
          (props.Parameters ?? []).map((p: any) => [p.ParameterKey, resolve(p.ParameterValue, template, parameters)]),
        );
        visit(`${name}.${id}`, JSON.parse(props.TemplateBody), passed);
      }
    }
  };
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.template.json') && !f.endsWith('.nested.template.json'))) {
    const template: Template = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
    // A parameter of a top-level template (the member stack's CentralRoleArn) stands for a role.
    const parameters = Object.fromEntries(
      Object.keys(template.Parameters ?? {}).map((key) => [key, `arn:aws:iam::999988887777:role/${key}`]),
    );
    visit(file.replace(/\.template\.json$/, ''), template, parameters);
  }
  return seen.size;
}

// Run directly: `node --import tsx scripts/policy-documents.ts CDK_OUT_DIR OUT_DIR`.
if (require.main === module) {
  const [dir, out] = process.argv.slice(2);
  if (!dir || !out) {
    console.error('usage: node --import tsx scripts/policy-documents.ts CDK_OUT_DIR OUT_DIR');
    process.exit(2);
  }
  try {
    const count = writePolicyDocuments(path.resolve(dir), path.resolve(out));
    if (count === 0) throw new Error(`no policy document in ${dir}`);
    console.log(path.resolve(out));
  } catch (error) {
    console.error(`policy-documents: ${(error as Error).message}`);
    process.exit(1);
  }
}
