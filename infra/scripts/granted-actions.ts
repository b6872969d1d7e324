/** Prints the actions that a synthesized app grants to its Lambda function's role and to the member role that the function assumes in other accounts, one `<role> <action>` a line, for the grant check of `cargo xtask ci`. */
import { readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';

type Template = { Resources?: Record<string, { Type: string; Properties?: any; Metadata?: any }> };

/** The actions granted to each kind of role: the function's own, and the member roles it assumes. */
export interface Grants {
  readonly function: string[];
  readonly member: string[];
  /** How many member roles were found (StackSet templates that trust the function's role). */
  readonly memberRoles: number;
}

/**
 * Whether a CloudFormation value refers to the role, by one of the logical ids or parameter names that stand for it, or
 * by reading another stack's output that holds it (`Fn::GetStackOutput` of an output `output:<name>` in `names`, or
 * `Fn::ImportValue` of an export `export:<name>`): the StackSet lives in a stack of its own, which reads the function
 * role's ARN from the central stack.
 */
function refersTo(value: any, names: ReadonlySet<string>): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (typeof value.Ref === 'string') return names.has(value.Ref);
  if (typeof value['Fn::ImportValue'] === 'string') return names.has(`export:${value['Fn::ImportValue']}`);
  const output = value['Fn::GetStackOutput']?.OutputName;
  if (typeof output === 'string') return names.has(`output:${output}`);
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

/** Whether a trust policy admits an AWS principal that refers to one of the names. */
function trusts(document: any, names: ReadonlySet<string>): boolean {
  const statements = [document?.Statement ?? []].flat();
  return statements.some(
    (s: any) => s.Effect === 'Allow' && [s.Principal?.AWS ?? []].flat().some((principal: any) => refersTo(principal, names)),
  );
}

/**
 * The actions granted to the member roles of the StackSets in a template: roles of a StackSet's template that trust
 * a parameter to which the StackSet passes the function's role (known by `names`). Returns how many it found.
 */
function memberGrantsOf(dir: string, template: Template, names: ReadonlySet<string>, out: Set<string>): number {
  let found = 0;
  for (const [id, resource] of Object.entries(template.Resources ?? {})) {
    const props = resource.Properties ?? {};
    if (resource.Type === 'AWS::CloudFormation::Stack') {
      const file = resource.Metadata?.['aws:asset:path'];
      if (typeof file !== 'string') throw new Error(`the nested stack ${id} names no template file (aws:asset:path)`);
      const passed = Object.entries(props.Parameters ?? {}).filter(([, value]) => refersTo(value, names));
      found += memberGrantsOf(dir, JSON.parse(readFileSync(path.join(dir, file), 'utf8')), new Set(passed.map(([name]) => name)), out);
    }
    if (resource.Type !== 'AWS::CloudFormation::StackSet') continue;
    if (typeof props.TemplateBody !== 'string') throw new Error(`the StackSet ${id} has no TemplateBody that this check can read`);
    const body: Template = JSON.parse(props.TemplateBody);
    const passed = new Set<string>(
      (props.Parameters ?? []).filter((p: any) => refersTo(p.ParameterValue, names)).map((p: any) => p.ParameterKey),
    );
    for (const [roleId, role] of Object.entries(body.Resources ?? {})) {
      if (role.Type !== 'AWS::IAM::Role' || !trusts(role.Properties?.AssumeRolePolicyDocument, passed)) continue;
      found++;
      grantsOf(dir, body, new Set([roleId]), out);
    }
  }
  return found;
}

/** The actions granted to the role of the one Lambda function of the app synthesized into `dir`, and to its member roles. */
export function grantedActions(dir: string): Grants {
  const out = new Set<string>();
  const member = new Set<string>();
  let memberRoles = 0;
  let functions = 0;
  const tops = readdirSync(dir)
    .filter((f) => f.endsWith('.template.json') && !f.endsWith('.nested.template.json'))
    .map((file) => ({ file, template: JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Template & { Outputs?: Record<string, any> } }));
  for (const { file, template } of tops) {
    for (const [id, resource] of Object.entries(template.Resources ?? {})) {
      if (resource.Type !== 'AWS::Lambda::Function') continue;
      functions++;
      const role = resource.Properties?.Role?.['Fn::GetAtt']?.[0];
      if (typeof role !== 'string') throw new Error(`the function ${id} in ${file} has no role of this template`);
      grantsOf(dir, template, new Set([role]), out);
      memberRoles += memberGrantsOf(dir, template, new Set([role]), member);
      // The outputs of the role, through which another stack of the app (the StackSet's) passes it on.
      const exported = Object.entries(template.Outputs ?? {})
        .filter(([, output]) => refersTo(output.Value, new Set([role])))
        .flatMap(([name, output]) => [`output:${name}`, ...(typeof output.Export?.Name === 'string' ? [`export:${output.Export.Name}`] : [])]);
      if (exported.length === 0) continue;
      for (const other of tops) {
        if (other.template !== template) memberRoles += memberGrantsOf(dir, other.template, new Set(exported), member);
      }
    }
  }
  if (functions !== 1) throw new Error(`expected one Lambda function in ${dir}, found ${functions}`);
  return { function: [...out].sort(), member: [...member].sort(), memberRoles };
}

// Run directly: `node --import tsx scripts/granted-actions.ts CDK_OUT_DIR`.
if (require.main === module) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node --import tsx scripts/granted-actions.ts CDK_OUT_DIR');
    process.exit(2);
  }
  try {
    const grants = grantedActions(path.resolve(dir));
    for (const action of grants.function) console.log(`function ${action}`);
    // A member role without any grant still says that it exists.
    if (grants.memberRoles > 0 && grants.member.length === 0) console.log('member');
    for (const action of grants.member) console.log(`member ${action}`);
  } catch (error) {
    console.error(`granted-actions: ${(error as Error).message}`);
    process.exit(1);
  }
}
