// Synthesizes the app's stack into the folder named by the first argument.
import { App, Duration, Stack } from 'aws-cdk-lib';
import { DurableFunctions, type DurableFunctionsProps } from 'perdure/cdk';
import { app as orders } from './app.js';

const props: DurableFunctionsProps = { entry: 'src/handlers.ts', retentionDays: 7, activityTimeout: Duration.minutes(2), schedules: orders.schedules() };
const app = new App({ outdir: process.argv[2] });
new DurableFunctions(new Stack(app, 'Orders'), 'Orders', props);
app.synth();
