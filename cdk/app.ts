/**
 * The CDK app behind `npx cdk deploy`: the example order app as durable functions, checked by cdk-nag.
 * Context: `-c retentionDays=30 -c removalPolicy=destroy -c apiAuth=iam|jwt -c jwtIssuer=... -c jwtAudience=a,b`,
 * `-c tracing=true` (X-Ray) and `-c adotLayerArn=arn:...` (Perdure's OpenTelemetry spans to X-Ray through the ADOT layer).
 */
import { App, RemovalPolicy } from 'aws-cdk-lib';
import { fileURLToPath } from 'node:url';
import { createExampleApp } from '../functions/example-app.js';
import type { ApiAuth } from './durable-functions.js';
import { checkWithCdkNag, PerdureStack } from './stack.js';

const app = new App();
const context = (key: string): string | undefined => app.node.tryGetContext(key) as string | undefined;
const apiAuth: ApiAuth =
  context('apiAuth') === 'jwt'
    ? { type: 'jwt', issuer: context('jwtIssuer') ?? '', audience: (context('jwtAudience') ?? '').split(',').filter(Boolean) }
    : { type: 'iam' };

new PerdureStack(app, context('stackName') ?? 'Perdure', {
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  durable: {
    entry: fileURLToPath(new URL('../functions/handlers.ts', import.meta.url)),
    retentionDays: Number(context('retentionDays') ?? 30),
    apiAuth,
    removalPolicy: context('removalPolicy') === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    ...(context('adotLayerArn') ? { tracing: { adotLayerArn: context('adotLayerArn')! } } : String(context('tracing')) === 'true' ? { tracing: true } : {}),
    // The schedules the example app defines, one EventBridge schedule each.
    schedules: createExampleApp().schedules(),
  },
});
checkWithCdkNag(app);
