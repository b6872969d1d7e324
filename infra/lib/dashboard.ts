/** The rotator's CloudWatch dashboard: rotation steps, their durations, the fleet's health from each sweep, and the state of every alarm. */
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { Construct } from 'constructs';
import { RotatorMetrics, STEP_METRICS, STEP_NAMES, STEP_PERIOD, SWEEP_METRICS, SWEEP_PERIOD } from './metrics';

/** The properties of a RotatorDashboard. */
export interface RotatorDashboardProps {
  /** The dashboard's name. */
  readonly dashboardName: string;
  /** The deployment's metrics. */
  readonly metrics: RotatorMetrics;
  /** The alarms whose state the dashboard shows. */
  readonly alarms: readonly cloudwatch.IAlarm[];
}

/** A small dashboard of one deployment. */
export class RotatorDashboard extends cloudwatch.Dashboard {
  constructor(scope: Construct, id: string, props: RotatorDashboardProps) {
    super(scope, id, { dashboardName: props.dashboardName });
    const m = props.metrics;
    const sum = (name: string) => m.deployment(name, cloudwatch.Stats.SUM, STEP_PERIOD);
    const fleet = (name: string) => m.deployment(name, cloudwatch.Stats.MAXIMUM, SWEEP_PERIOD);
    this.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: [...props.alarms], width: 24, height: 3 }),
    );
    this.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Rotation steps',
        left: [sum(STEP_METRICS.succeeded), sum(STEP_METRICS.failed)],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Step duration, p90 (ms)',
        left: STEP_NAMES.map((step) => m.step(STEP_METRICS.duration, step, cloudwatch.Stats.p(90), STEP_PERIOD)),
        width: 12,
      }),
    );
    this.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Fleet, per sweep',
        left: [fleet(SWEEP_METRICS.managedSecrets), fleet(SWEEP_METRICS.keysOlderThanInterval)],
        right: [
          fleet(SWEEP_METRICS.overdueRotations),
          fleet(SWEEP_METRICS.stuckRotations),
          fleet(SWEEP_METRICS.oldKeysInUse),
        ],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Old keys retired and sweep errors',
        left: [
          m.deployment(SWEEP_METRICS.oldKeysRetired, cloudwatch.Stats.SUM, SWEEP_PERIOD),
          m.deployment(SWEEP_METRICS.sweepErrors, cloudwatch.Stats.SUM, SWEEP_PERIOD),
        ],
        width: 12,
      }),
    );
  }
}
