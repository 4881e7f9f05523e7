// Runs one order in the in-memory TestEnvironment and prints what happened as JSON.
import { TestEnvironment } from 'perdure';
import { app } from './app.js';

const env = await TestEnvironment.create(app);
const id = await env.client.start('order', ['desk', 'chair']);
await env.client.raiseEvent(id, 'approval', { approved: true });
const { status, output } = await env.client.waitForCompletion(id);
const history = await env.client.getHistory(id);
await env.close();
console.log(JSON.stringify({ status, output, events: history.map((event) => event.type) }));
