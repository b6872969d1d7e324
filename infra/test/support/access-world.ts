/** The deployed world of the access matrix: the synthesized templates (central stack, its shards, the member-roles StackSet's template) with every intrinsic resolved to example values, and the policy simulator that decides each request as AWS would. */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { loadPolicy } from '@cloud-copilot/iam-policy';
import { runSimulation, type Simulation } from '@cloud-copilot/iam-simulate';

/** The example partition, region and accounts of the world. */
export const PARTITION = 'aws';
export const REGION = 'us-east-1';
/** The central account, where the rotator is deployed. */
export const CENTRAL = '123456789012';
/** A member account of the organization, where the member and reader roles live. */
export const MEMBER = '111122223333';
/** The organization and its root, which the StackSet targets. */
export const ORGANIZATION_ID = 'o-a1b2c3d4e5';
export const ORGANIZATION_ROOT = 'r-ab12';

type Template = { Resources?: Record<string, any>; Parameters?: Record<string, any>; Outputs?: Record<string, any> };

/** One stack of the world: its template, the account it is deployed in, and its parameters' values. */
export interface DeployedStack {
  readonly name: string;
  readonly account: string;
  readonly template: Template;
  readonly parameters: Record<string, unknown>;
  /** The stack whose resources the Fn::ImportValue and Fn::GetStackOutput of this one read. */
  readonly producers: readonly DeployedStack[];
}

/** The ARN (or Ref value) of a resource, by its type and properties, as CloudFormation would give it. */
function physical(stack: DeployedStack, id: string, attribute: string): string {
  const resource = stack.template.Resources?.[id];
  if (resource === undefined) throw new Error(`${stack.name}: no resource ${id}`);
  const p = resource.Properties ?? {};
  const at = `${REGION}:${stack.account}`;
  const named = (property: string) => (typeof p[property] === 'string' ? p[property] : id);
  switch (resource.Type) {
    case 'AWS::IAM::Role':
      return attribute === 'Ref' ? named('RoleName') : `arn:${PARTITION}:iam::${stack.account}:role/${named('RoleName')}`;
    case 'AWS::Lambda::Function':
      return attribute === 'Ref' ? id : `arn:${PARTITION}:lambda:${at}:function:${id}`;
    case 'AWS::SQS::Queue':
      return attribute === 'Ref' ? `https://sqs.${REGION}.amazonaws.com/${stack.account}/${id}` : `arn:${PARTITION}:sqs:${at}:${id}`;
    case 'AWS::SNS::Topic':
      return attribute === 'TopicName' ? id : `arn:${PARTITION}:sns:${at}:${id}`;
    case 'AWS::KMS::Key':
      return attribute === 'Ref' || attribute === 'KeyId' ? `key-${id}` : `arn:${PARTITION}:kms:${at}:key/key-${id}`;
    case 'AWS::Logs::LogGroup':
      return attribute === 'Ref' ? id : `arn:${PARTITION}:logs:${at}:log-group:${id}:*`;
    case 'AWS::Events::Rule':
      return attribute === 'Ref' ? id : `arn:${PARTITION}:events:${at}:rule/${id}`;
    case 'AWS::CloudWatch::Alarm':
      return attribute === 'Ref' ? named('AlarmName') : `arn:${PARTITION}:cloudwatch:${at}:alarm:${named('AlarmName')}`;
    case 'AWS::SecretsManager::Secret':
      return secretArn(stack.account, resolve(stack, p.Name));
    case 'AWS::Scheduler::Schedule':
      return attribute === 'Ref' ? named('Name') : `arn:${PARTITION}:scheduler:${at}:schedule/default/${named('Name')}`;
    default:
      return id;
  }
}

/** A secret's ARN: its name, "-" and Secrets Manager's six random characters. */
export function secretArn(account: string, name: string): string {
  return `arn:${PARTITION}:secretsmanager:${REGION}:${account}:secret:${name}-AbCdEf`;
}

/** The value of an output of a producer stack, by its logical id or export name. */
function output(stack: DeployedStack, find: (id: string, output: any) => boolean): unknown {
  for (const producer of stack.producers) {
    for (const [id, out] of Object.entries(producer.template.Outputs ?? {})) {
      if (find(id, out)) return resolve(producer, out.Value);
    }
  }
  throw new Error(`${stack.name}: no producer has the output it reads`);
}

/** Replaces the intrinsics of `value` with the world's values. */
export function resolve(stack: DeployedStack, value: any): any {
  if (Array.isArray(value)) return value.map((v) => resolve(stack, v));
  if (value === null || typeof value !== 'object') return value;
  if (typeof value.Ref === 'string') {
    const pseudo: Record<string, string> = {
      'AWS::Partition': PARTITION,
      'AWS::Region': REGION,
      'AWS::AccountId': stack.account,
      'AWS::URLSuffix': 'amazonaws.com',
      'AWS::StackName': stack.name,
    };
    if (value.Ref in pseudo) return pseudo[value.Ref];
    if (value.Ref in stack.parameters) return stack.parameters[value.Ref];
    return physical(stack, value.Ref, 'Ref');
  }
  if (Array.isArray(value['Fn::GetAtt'])) return physical(stack, value['Fn::GetAtt'][0], value['Fn::GetAtt'][1]);
  if (Array.isArray(value['Fn::Join'])) return resolve(stack, value['Fn::Join'][1]).join(value['Fn::Join'][0]);
  if (Array.isArray(value['Fn::Select'])) return resolve(stack, value['Fn::Select'][1])[Number(value['Fn::Select'][0])];
  if (Array.isArray(value['Fn::Split'])) return String(resolve(stack, value['Fn::Split'][1])).split(value['Fn::Split'][0]);
  if (value['Fn::ImportValue'] !== undefined) {
    const name = resolve(stack, value['Fn::ImportValue']);
    return output(stack, (_, out) => out.Export !== undefined && resolve(stack.producers[0], out.Export.Name) === name);
  }
  if (value['Fn::GetStackOutput'] !== undefined) {
    return output(stack, (id) => id === value['Fn::GetStackOutput'].OutputName);
  }
  if (value['Fn::Sub'] !== undefined) {
    const [text, variables] = typeof value['Fn::Sub'] === 'string' ? [value['Fn::Sub'], {}] : value['Fn::Sub'];
    return text.replace(/\$\{([^}!]+)\}/g, (_: string, name: string) =>
      name in variables ? resolve(stack, variables[name]) : resolve(stack, name.includes('.') ? { 'Fn::GetAtt': name.split('.') } : { Ref: name }),
    );
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(stack, v)]));
}

/** The resources of a stack of one type, resolved, by logical id. */
export function resources(stack: DeployedStack, type: string): Record<string, any> {
  return Object.fromEntries(
    Object.entries(stack.template.Resources ?? {})
      .filter(([, r]) => r.Type === type)
      .map(([id, r]) => [id, resolve(stack, r.Properties ?? {})]),
  );
}

/**
 * The stacks of a synthesized cloud assembly as deployed: each top-level stack in the central account, its nested stacks
 * with the parameters that the parent passes, and each StackSet's template in the member account with the StackSet's
 * parameters.
 */
export function deploy(assemblyDir: string): DeployedStack[] {
  const stacks: DeployedStack[] = [];
  const manifest = JSON.parse(readFileSync(path.join(assemblyDir, 'manifest.json'), 'utf8'));
  const tops = Object.entries<any>(manifest.artifacts)
    .filter(([, a]) => a.type === 'aws:cloudformation:stack')
    .map(([, a]) => a.properties.templateFile as string);
  const visit = (stack: DeployedStack) => {
    stacks.push(stack);
    for (const [id, resource] of Object.entries<any>(stack.template.Resources ?? {})) {
      const p = resource.Properties ?? {};
      if (resource.Type === 'AWS::CloudFormation::Stack') {
        const file = resource.Metadata['aws:asset:path'];
        visit({
          name: `${stack.name}-${id}`,
          account: stack.account,
          template: JSON.parse(readFileSync(path.join(assemblyDir, file), 'utf8')),
          parameters: resolve(stack, p.Parameters ?? {}),
          producers: stack.producers,
        });
      }
      if (resource.Type === 'AWS::CloudFormation::StackSet') {
        visit({
          name: `${stack.name}-${id}`,
          account: MEMBER,
          template: JSON.parse(p.TemplateBody),
          parameters: Object.fromEntries((p.Parameters ?? []).map((x: any) => [x.ParameterKey, resolve(stack, x.ParameterValue)])),
          producers: [],
        });
      }
    }
  };
  const loaded = tops.map((file) => ({ file, template: JSON.parse(readFileSync(path.join(assemblyDir, file), 'utf8')) as Template }));
  // The central stack first: the member-roles stack imports from it.
  loaded.sort((a, b) => Object.keys(a.template.Outputs ?? {}).length < Object.keys(b.template.Outputs ?? {}).length ? 1 : -1);
  const top: DeployedStack[] = [];
  for (const { file, template } of loaded) {
    const stack: DeployedStack = { name: file.replace(/\.template\.json$/, ''), account: CENTRAL, template, parameters: {}, producers: [...top] };
    top.push(stack);
    visit(stack);
  }
  return stacks;
}

/** A policy document as the simulator takes it. */
export type PolicyDocument = { Version: string; Statement: any[] };

/** The principal of a request: its ARN (a role's session is named by its role), account and identity policies. */
export interface Principal {
  readonly name: string;
  /** The ARN that aws:PrincipalArn carries: a role's ARN, or a service principal such as "secretsmanager.amazonaws.com". */
  readonly arn: string;
  readonly account: string;
  readonly identityPolicies: readonly PolicyDocument[];
  /** Whether it is an AWS service principal (its requests carry aws:SourceAccount and aws:SourceArn instead). */
  readonly service?: boolean;
}

/** One authorization that a call needs: an action on a resource with the request context AWS sends. */
export interface Authorization {
  readonly action: string;
  readonly resource: string;
  readonly resourceAccount: string;
  readonly resourcePolicy?: PolicyDocument;
  readonly context: Record<string, string | string[]>;
}

/**
 * The context keys that iam-simulate 0.1.173 drops in its input filter: `normalizeSimulationParameters` keeps a key only
 * when the action's list (from iam-data) holds it or a variable key with the same prefix up to the first "/", and the
 * variable key `kms:EncryptionContext:${EncryptionContextKey}` has a ":" where that test looks for a "/". The dropped
 * key is then absent, so a `StringLike kms:EncryptionContext:SecretARN` condition could never match. The matrix therefore
 * validates every request with runSimulation (which reports what it dropped in `ignoredContextKeys`) and, when it
 * dropped exactly these keys and nothing else, decides it again with the library's own evaluation (`authorize`, which
 * runUnsafeSimulation calls) on the context as given. runUnsafeSimulation itself cannot be used: it loads the resource
 * policy without a name and then fails reading that name. `test/access-matrix.test.ts` has a test that fails once the
 * library keeps the key, so that this workaround goes with it.
 */
export const DROPPED_BY_THE_SIMULATOR = /^kms:EncryptionContext:/i;

/** The decision of one authorization, and the context keys the simulator's input filter dropped. */
export async function decide(principal: Principal, request: Authorization): Promise<{ allowed: boolean; dropped: string[]; detail: string }> {
  const simulation: Simulation = {
    request: {
      principal: principal.arn,
      action: request.action,
      resource: { resource: request.resource, accountId: request.resourceAccount },
      contextVariables: { ...request.context },
    },
    identityPolicies: principal.identityPolicies.map((policy, i) => ({ name: `identity${i}`, policy })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: request.resourcePolicy,
  };
  const checked = await runSimulation(simulation, {});
  if (checked.resultType === 'error') {
    throw new Error(`${principal.name} ${request.action} ${request.resource}: the simulator refused the request: ${JSON.stringify(checked.errors)}`);
  }
  if (checked.resultType !== 'single') throw new Error(`${request.action} ${request.resource}: not one resource`);
  const dropped = checked.result.ignoredContextKeys ?? [];
  const unexpected = dropped.filter((key) => !DROPPED_BY_THE_SIMULATOR.test(key));
  if (unexpected.length > 0) {
    throw new Error(`${principal.name} ${request.action}: the context keys ${unexpected.join(', ')} do not apply to this action`);
  }
  if (dropped.length === 0) return { allowed: checked.overallResult === 'Allowed', dropped, detail: checked.overallResult };
  const result = evaluateAsGiven(simulation);
  return { allowed: result === 'Allowed', dropped, detail: `${result} (context as given)` };
}

/** The library's evaluation of a request with its context as given (what runUnsafeSimulation does, with named policies). */
function evaluateAsGiven(simulation: Simulation): string {
  // The package exports only its index, which does not export `authorize`: its file is required by path.
  const dist = path.dirname(require.resolve('@cloud-copilot/iam-simulate'));
  const { authorize } = require(path.join(dist, 'core_engine', 'CoreSimulatorEngine.js'));
  const { AwsRequestImpl } = require(path.join(dist, 'request', 'request.js'));
  const { RequestContextImpl } = require(path.join(dist, 'requestContext.js'));
  const { DiscoveryContextKeyConstraints } = require(path.join(dist, 'context_keys', 'discoveryContextKeyConstraints.js'));
  const request = new AwsRequestImpl(
    simulation.request.principal,
    simulation.request.resource,
    simulation.request.action,
    new RequestContextImpl(simulation.request.contextVariables),
  );
  const analysis = authorize({
    request,
    sessionPolicy: undefined,
    identityPolicies: simulation.identityPolicies.map((p) => loadPolicy(p.policy, { name: p.name })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: simulation.resourcePolicy ? loadPolicy(simulation.resourcePolicy, { name: 'resource' }) : undefined,
    permissionBoundaries: undefined,
    vpcEndpointPolicies: undefined,
    simulationParameters: { simulationMode: 'Strict', discoveryContextKeyConstraints: new DiscoveryContextKeyConstraints([]) },
    serviceSettings: { s3: {} },
  });
  return analysis.result;
}
