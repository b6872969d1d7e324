/** The sweep's EventBridge Scheduler schedule and its role, built with the CDK's own aws-scheduler constructs so that the role's trust policy names the schedule group, as Scheduler evaluates it. */
import { Aws, Duration, Stack, TimeZone } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** The schedule group of the sweep: Scheduler's default group, which always exists in every account and region. */
export const SWEEP_SCHEDULE_GROUP = 'default';

/** The fixed logical id of the schedule, kept stable across refactorings of the construct tree (its name is fixed too). */
export const SWEEP_SCHEDULE_LOGICAL_ID = 'SweepSchedule';

/** The properties of a SweepSchedule. */
export interface SweepScheduleProps {
  /** The schedule's name, unique within its group (at most 64 characters). */
  readonly scheduleName: string;
  /** The EventBridge Scheduler `rate(...)` or `cron(...)` expression, evaluated in UTC. */
  readonly expression: string;
  /** The function that the schedule invokes. */
  readonly function: lambda.IFunction;
  /** The payload of each invocation. */
  readonly input: Record<string, unknown>;
  /** The queue that keeps the invocations that Scheduler could not deliver. */
  readonly deadLetterQueue: sqs.IQueue;
}

/**
 * The schedule that invokes the sweep, and the role that it runs as. Scheduler evaluates `aws:SourceArn` in the
 * role's trust policy against the schedule's *group* (`...:schedule-group/default`), not the schedule: a trust policy
 * that names the schedule is refused by CreateSchedule, or refuses every invocation (EventBridge Scheduler User
 * Guide, "Cross-service confused deputy prevention", https://docs.aws.amazon.com/scheduler/latest/UserGuide/cross-service-confused-deputy-prevention.html,
 * and its document history of 2023-09-07, https://docs.aws.amazon.com/scheduler/latest/UserGuide/doc-history.html).
 * The CDK's `aws-scheduler-targets` builds its roles the same way (`ScheduleTargetBase.createOrGetScheduleTargetRole`).
 */
export class SweepSchedule extends Construct {
  /** The schedule. */
  readonly schedule: scheduler.Schedule;
  /** The role with which the schedule invokes the function, and nothing else. */
  readonly role: iam.Role;
  /** The schedule's name. */
  readonly scheduleName: string;

  constructor(scope: Construct, id: string, props: SweepScheduleProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.scheduleName = props.scheduleName;
    const scheduleGroupArn = stack.formatArn({
      service: 'scheduler',
      resource: 'schedule-group',
      resourceName: SWEEP_SCHEDULE_GROUP,
    });
    this.role = new iam.Role(this, 'Role', {
      description: 'Lets the sweep schedule of the IAM access key rotator invoke its function.',
      // Scheduler of this account, for the schedules of the sweep's group only: the documented confused-deputy
      // conditions, the same as the role that aws-scheduler-targets creates by itself.
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: {
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID, 'aws:SourceArn': scheduleGroupArn },
        },
      }),
      inlinePolicies: {
        InvokeSweep: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              sid: 'InvokeTheRotatorFunction',
              actions: ['lambda:InvokeFunction'],
              // This function (its unqualified ARN), and no version, alias or other function.
              resources: [props.function.functionArn],
            }),
            new iam.PolicyStatement({
              sid: 'KeepUndeliveredSweeps',
              actions: ['sqs:SendMessage'],
              resources: [props.deadLetterQueue.queueArn],
            }),
          ],
        }),
      },
    });
    // The target gets the role read-only: its own grant (lambda:InvokeFunction on the function and on every version
    // and alias, "<arn>:*") would add a second policy; the inline policy above is the role's whole grant.
    const target = new targets.LambdaInvoke(props.function, {
      role: this.role.withoutPolicyUpdates(),
      input: scheduler.ScheduleTargetInput.fromObject(props.input),
      deadLetterQueue: props.deadLetterQueue,
      // A sweep is idempotent and the next one comes within the hour: a few retries within 15 minutes, then the
      // dead-letter queue (and its alarm) rather than retries piling up behind the next sweep.
      retryAttempts: 3,
      maxEventAge: Duration.minutes(15),
    });
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      scheduleName: props.scheduleName,
      description: "Invokes the IAM access key rotator's sweep: retires unused old keys and reports the fleet's health.",
      schedule: scheduler.ScheduleExpression.expression(props.expression, TimeZone.ETC_UTC),
      target,
      timeWindow: scheduler.TimeWindow.off(),
      enabled: true,
    });
    (this.schedule.node.defaultChild as scheduler.CfnSchedule).overrideLogicalId(SWEEP_SCHEDULE_LOGICAL_ID);
  }
}
