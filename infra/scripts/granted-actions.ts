/** Prints the actions that a synthesized app grants to its Lambda function's role, one a line, for the grant check of `cargo xtask ci`. */
import { readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';

type Template = { Resources?: Record<string, { Type: string; Properties?: any; Metadata?: any }> };

/** Whether a CloudFormation value refers to the role, by one of the logical ids or parameter names that stand for it. */
function refersTo(value: any, names: ReadonlySet<string>): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (typeof value.Ref === 'string') return names.has(value.Ref);
  const getAtt = value['Fn::GetAtt'];
  if (Array.isArray(getAtt)) return names.has(getAtt[0]);
  return false;
}

/** The Allow actions of a policy document. */
function allowedActions(document: any): string[] {
  const statements = [document?.Statement ?? []].flat();
  return statements.filter((s: any) => s.Effect === 'Allow').flatMap((s: any) => [s.Action ?? []].flat());
}

/**
 * The actions that a template grants to the role, which the template knows by the given names (its logical
 * id in the template that holds it, or the parameters that a parent passes it in), nested stacks included.
 */
function grantsOf(dir: string, template: Template, names: ReadonlySet<string>, out: Set<string>): void {
  for (const [id, resource] of Object.entries(template.Resources ?? {})) {
    const props = resource.Properties ?? {};
    if (resource.Type === 'AWS::IAM::Role' && names.has(id)) {
      for (const policy of props.Policies ?? []) for (const action of allowedActions(policy.PolicyDocument)) out.add(action);
      if ((props.ManagedPolicyArns ?? []).length > 0) throw new Error(`the role ${id} has managed policies, which this check cannot read`);
    }
    if (resource.Type === 'AWS::IAM::Policy' || resource.Type === 'AWS::IAM::ManagedPolicy') {
      if ((props.Roles ?? []).some((role: any) => refersTo(role, names))) {
        for (const action of allowedActions(props.PolicyDocument)) out.add(action);
      }
    }
    if (resource.Type === 'AWS::CloudFormation::Stack') {
      const file = resource.Metadata?.['aws:asset:path'];
      if (typeof file !== 'string') throw new Error(`the nested stack ${id} names no template file (aws:asset:path)`);
      const passed = Object.entries(props.Parameters ?? {}).filter(([, value]) => refersTo(value, names));
      grantsOf(dir, JSON.parse(readFileSync(path.join(dir, file), 'utf8')), new Set(passed.map(([name]) => name)), out);
    }
  }
}

/** The actions granted to the role of the one Lambda function of the app synthesized into `dir`. */
export function grantedActions(dir: string): string[] {
  const out = new Set<string>();
  let functions = 0;
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.template.json') && !f.endsWith('.nested.template.json'))) {
    const template: Template = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
    for (const [id, resource] of Object.entries(template.Resources ?? {})) {
      if (resource.Type !== 'AWS::Lambda::Function') continue;
      functions++;
      const role = resource.Properties?.Role?.['Fn::GetAtt']?.[0];
      if (typeof role !== 'string') throw new Error(`the function ${id} in ${file} has no role of this template`);
      grantsOf(dir, template, new Set([role]), out);
    }
  }
  if (functions !== 1) throw new Error(`expected one Lambda function in ${dir}, found ${functions}`);
  return [...out].sort();
}

// Run directly: `node --import tsx scripts/granted-actions.ts CDK_OUT_DIR`.
if (require.main === module) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node --import tsx scripts/granted-actions.ts CDK_OUT_DIR');
    process.exit(2);
  }
  try {
    for (const action of grantedActions(path.resolve(dir))) console.log(action);
  } catch (error) {
    console.error(`granted-actions: ${(error as Error).message}`);
    process.exit(1);
  }
}
