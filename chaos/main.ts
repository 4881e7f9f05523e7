/**
 * `npm run chaos -- --instances 1000 [--seed 42] [--runtime local|memory] [--inline] [--no-slow] [--concurrency 50] [--only gate|fragile]`:
 * the long chaos run. Prints instances, faults injected and violations (must be 0), and the seed to reproduce.
 * Slow calls and invocations are on unless `--no-slow`. `--only` keeps the programs with a gate (cancelled) or a fragile
 * call (rewound), to chase a defect of one operation.
 */
import { parseArgs } from 'node:util';
import { runChaos } from './run.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { values } = parseArgs({
  options: {
    instances: { type: 'string', default: '200' },
    seed: { type: 'string' },
    runtime: { type: 'string', default: 'local' },
    concurrency: { type: 'string', default: '50' },
    inline: { type: 'boolean', default: false },
    'no-slow': { type: 'boolean', default: false },
    only: { type: 'string' },
  },
});
const seed = values.seed === undefined ? Math.floor(Math.random() * 1_000_000) : Number(values.seed);
const runtime = values.runtime === 'memory' ? 'memory' : 'local';
const slow = !values['no-slow'];
if (values.only !== undefined && values.only !== 'gate' && values.only !== 'fragile') throw new Error(`--only takes 'gate' or 'fragile', not '${values.only}'.`);
const only = values.only;
console.log(`chaos: ${values.instances} programs${only ? ` with a ${only}` : ''} on the ${runtime} runtime${values.inline ? ', activities inline' : ''}${slow ? ', slow calls and invocations' : ''}, seed ${seed}`);
const report = await runChaos({ seed, instances: Number(values.instances), runtime, inline: values.inline, slow, concurrency: Number(values.concurrency), ...(only ? { only } : {}), log: console.log });
console.log(`
instances        ${report.instances} programs, ${report.instancesChecked} instances with their children
faults injected  ${report.faults}
operations       ${report.cancelled} cancelled at a gate, ${report.rewound} rewound after a fix
violations       ${report.violations.length}
time             ${report.seconds.toFixed(1)} s`);
for (const violation of report.violations.slice(0, 50)) console.log(`  ${violation}`);
if (report.violations.length) console.log(`\nReproduce: npm run chaos -- --instances ${report.instances} --runtime ${runtime}${values.inline ? ' --inline' : ''}${slow ? '' : ' --no-slow'}${only ? ` --only ${only}` : ''} --seed ${seed}`);
process.exitCode = report.violations.length ? 1 : 0;
