/**
 * `npm start`: the embedded local stack. DynamoDB Local and fauxqs (SQS + S3) on 127.0.0.1, the example
 * app's handlers driven by queue pollers, and the HTTP API on http://127.0.0.1:$PORT (default 3000).
 * Data stays in .perdure/ (git-ignored), so a restart loses nothing. No AWS account, no Docker.
 */
import { HttpApi } from '../lib/api/http-api.js';
import { startLocalStack } from '../lib/local/local-stack.js';
import { serveHttpApi } from '../lib/local/http-server.js';
import { createExampleApp } from './example-app.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const port = Number(process.env.PORT ?? 3000);
const dataDir = process.env.PERDURE_DATA_DIR ?? '.perdure';

const app = createExampleApp();
const began = performance.now();
// Signed callback URLs carry the address this server answers on (known once it listens); the signing key stays in the data folder.
const served: { url?: string } = {};
const stack = await startLocalStack(app, { dataDir, schedules: true, apiUrl: () => served.url });
const { runtime } = stack;
const http = await serveHttpApi(
  new HttpApi({ client: runtime.client, deadLetters: runtime.deadLetters, replayFindings: runtime.replayFindings, schedules: runtime.schedules, callbackUrls: runtime.callbackUrls, metrics: () => stack.metrics.snapshot() }),
  port,
);
const url = (served.url = http.url);

console.log(`
Perdure local stack is up in ${((performance.now() - began) / 1000).toFixed(1)} s: ${url}  (data in ${dataDir}/, Ctrl+C to stop)

Start an order that needs approval (amount > 1000) and ships 10 s after packing:
  curl -s -X POST '${url}/orchestrations/order?instanceId=order-42' -H 'content-type: application/json' \\
    -d '{"orderId":"42","customer":"ada@example.com","amount":1500,"items":[{"sku":"desk","quantity":1},{"sku":"chair","quantity":4}],"pickupAfter":"10s"}'
Approve it:
  curl -s -X POST ${url}/instances/order-42/events/approval -H 'content-type: application/json' -d '{"approved":true}'
Read its status and history:
  curl -s ${url}/instances/order-42
  curl -s ${url}/instances/order-42/history
List running instances, the dead letters, and the metrics (the names CloudWatch gets on AWS):
  curl -s '${url}/instances?status=Running'
  curl -s ${url}/dlq/activities
  curl -s ${url}/metrics
The schedules (fired on time while this runs; after a restart, at most the last missed firing of each):
  curl -s ${url}/schedules
  curl -s -X POST ${url}/schedules/nightlyReport/trigger -H 'content-type: application/json'
The web view: ${url}/ui
The CLI (another terminal): npm run perdure -- list --status Completed${port === 3000 ? '' : ` --endpoint ${url}`}
`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  console.log('stopping...');
  await http.close();
  await stack.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
