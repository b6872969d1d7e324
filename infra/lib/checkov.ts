/** Records a checkov finding that does not apply to a resource, with the reason, in the resource's template metadata (`Metadata.checkov.skip`), where checkov reads it. */
import type { CfnResource } from 'aws-cdk-lib';

/** One skipped check: its id and a sentence that says why it does not apply. */
export interface CheckovSkip {
  readonly id: string;
  readonly comment: string;
}

/** Adds the skips to the resource's `checkov` metadata, keeping any already there. */
export function skipCheckov(resource: CfnResource, ...skips: CheckovSkip[]): void {
  const existing = (resource.getMetadata('checkov') as { skip?: CheckovSkip[] } | undefined)?.skip ?? [];
  resource.addMetadata('checkov', { skip: [...existing, ...skips] });
}
