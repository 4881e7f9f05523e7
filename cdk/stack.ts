import { Stack, Validations, type StackProps } from 'aws-cdk-lib';
import type { App } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { Construct } from 'constructs';
import { DurableFunctions, type DurableFunctionsProps } from './durable-functions.js';

/** The stack `cdk deploy` creates: one app's durable functions. */
export class PerdureStack extends Stack {
  readonly durable: DurableFunctions;

  constructor(scope: Construct, id: string, props: StackProps & { durable: DurableFunctionsProps }) {
    super(scope, id, props);
    this.durable = new DurableFunctions(this, 'Durable', props.durable);
  }
}

/** Runs cdk-nag's AWS Solutions checks at synthesis: any finding not acknowledged below stops the synth. */
export function checkWithCdkNag(app: App): void {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
}
