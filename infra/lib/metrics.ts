/** The CloudWatch metrics that the function emits in the Embedded Metric Format (namespace IamKeyRotator, dimension Deployment = the function's name), as CDK metric objects for alarms and the dashboard. */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';

/** The namespace of every metric that the function emits. */
export const METRIC_NAMESPACE = 'IamKeyRotator';

/** The dimension that names the deployment: its value is the function's name. */
export const DEPLOYMENT_DIMENSION = 'Deployment';

/** The dimension of the per-step metrics that names the step. */
export const STEP_DIMENSION = 'Step';

/** The rotation steps, as the per-step metrics name them in their Step dimension. */
export const STEP_NAMES = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const;

/** The metrics of each rotation step, emitted with the dimension sets [Deployment] and [Deployment, Step]. */
export const STEP_METRICS = {
  succeeded: 'RotationStepSucceeded',
  failed: 'RotationStepFailed',
  duration: 'StepDuration',
} as const;

/** The metrics of each sweep, emitted with the dimension set [Deployment]. */
export const SWEEP_METRICS = {
  managedSecrets: 'ManagedSecrets',
  keysOlderThanInterval: 'KeysOlderThanInterval',
  overdueRotations: 'OverdueRotations',
  stuckRotations: 'StuckRotations',
  oldKeysInUse: 'OldKeysInUse',
  oldKeysRetired: 'OldKeysRetired',
  sweepErrors: 'SweepErrors',
} as const;

/** The metrics of one deployment. */
export class RotatorMetrics {
  /** @param functionName the function's name, the value of the Deployment dimension. */
  constructor(readonly functionName: string) {}

  /** A metric with the Deployment dimension only. */
  deployment(metricName: string, statistic: string, period: Duration): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRIC_NAMESPACE,
      metricName,
      dimensionsMap: { [DEPLOYMENT_DIMENSION]: this.functionName },
      statistic,
      period,
    });
  }

  /** A per-step metric of one step (dimensions Deployment and Step). */
  step(metricName: string, step: string, statistic: string, period: Duration): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRIC_NAMESPACE,
      metricName,
      dimensionsMap: { [DEPLOYMENT_DIMENSION]: this.functionName, [STEP_DIMENSION]: step },
      statistic,
      period,
      label: step,
    });
  }
}

/** The period of the sweep's metrics on the dashboard and in the alarms: the sweep runs hourly by default. */
export const SWEEP_PERIOD = Duration.hours(1);

/** The period of the per-step metrics. */
export const STEP_PERIOD = Duration.minutes(5);
