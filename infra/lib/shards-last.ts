/** The aspect that makes CloudFormation create the secret shards after every other resource of the stack, so that no rotation starts before the rest of the deployment exists. */
import { CfnResource, type IAspect, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Makes each of the given shards (the nested stack resources that nothing else waits for: the first of each chain)
 * depend on every other resource of their stack. The shards' schedules rotate, or test, the secrets as soon as they
 * are created, and a rollback deletes those secrets without a recovery window while the keys that their rotations
 * made stay in IAM: with the shards last, a failure anywhere else in the stack (a subscription, an alarm, the SES
 * identity, a schedule's role) rolls back before any secret exists. The later shards wait for these through their
 * chains, so their DependsOn lists stay short.
 *
 * An aspect rather than a loop in the construct: it runs once the whole app is built, so it also sees the resources
 * that are added to the stack after the Rotator (by the stack, or by another construct).
 */
export class ShardsLast implements IAspect {
  constructor(
    private readonly stack: Stack,
    private readonly firstShards: readonly CfnResource[],
    private readonly allShards: readonly CfnResource[],
  ) {}

  visit(node: IConstruct): void {
    if (node !== this.stack) return;
    const shards = new Set<CfnResource>(this.allShards);
    const others = this.stack.node
      .findAll()
      .filter((c): c is CfnResource => CfnResource.isCfnResource(c) && Stack.of(c) === this.stack && !shards.has(c))
      // A resource that waits for a shard itself must not be waited for: that would be a cycle.
      .filter((resource) => !resource.obtainDependencies().some((dependency) => shards.has(dependency as CfnResource)));
    for (const shard of this.firstShards) {
      for (const other of others) shard.addResourceDependency(other);
      // The shard refers to a few of these too (the function's ARN is one of its parameters), and cfn-lint reports a
      // DependsOn that a reference already enforces (W3005): harmless, and listing them all keeps the rule simple.
      shard.addMetadata('cfn-lint', { config: { ignore_checks: ['W3005'] } });
    }
  }
}
