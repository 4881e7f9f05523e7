import { readFile } from 'node:fs/promises';
import type { InstanceStatus } from '../client.js';
import { addLedgers, emptyLedger, type CostLedger } from '../core/cost-ledger.js';
import { priceLedger, resolvePrices, type CostPrices, type PricedCost } from '../core/cost-prices.js';
import { toMilliseconds } from '../core/durations.js';
import { CliError } from './api-client.js';
import type { Command, CommandContext } from './commands.js';
import { table } from './format.js';
import { selectInstanceStatuses } from './instance-selection.js';

/** `perdure cost`: what an instance, or the instances of a window, cost (their ledgers, priced). */

const IN_FLIGHT = new Set(['Pending', 'Running', 'Suspended', 'Quarantined']);
const enc = encodeURIComponent;
// Costs of single instances are fractions of a cent: eight decimals below a cent.
const usd = (n: number) => (n === 0 ? '$0' : `$${n < 0.01 ? n.toFixed(8) : n.toFixed(4)}`);
const number = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(2));

type Values = CommandContext['values'];
const str = (values: Values, key: string) => (typeof values[key] === 'string' ? (values[key]) : undefined);

/** The prices of `--prices file.json` (each overriding a default), or none: the API's own (the app's `createApp({ prices })`). */
async function pricesFrom(values: Values): Promise<CostPrices | undefined> {
  const path = str(values, 'prices');
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new CliError(`Cannot read --prices ${path}: ${(error as Error).message}.`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new CliError(`--prices ${path} is not valid JSON (${(error as Error).message}); it holds prices such as {"lambdaArchitecture": "x86_64"}.`);
  }
  return resolvePrices(parsed, `--prices ${path}`);
}

/** One instance's bill: a line per service, the requests by operation, the total. */
function instanceLines(status: InstanceStatus, cost: PricedCost): string {
  const { ledger } = cost;
  const requests = Object.entries(ledger.requests).sort(([a], [b]) => a.localeCompare(b));
  return [
    `Instance ${status.instanceId} (${status.name}, ${status.status}): ${number(ledger.steps)} steps, ${number(ledger.attempts)} attempts`,
    '',
    table(['item', 'usage', 'USD'], cost.lines.map((line) => [line.item, line.usage, usd(line.usd)])),
    '',
    `Total ${usd(cost.totalUsd)}`,
    ...(requests.length ? ['', 'Requests:', ...requests.map(([key, count]) => `  ${key.padEnd(32)}${number(count)}`)] : []),
    ...(ledger.s3PutBytes || ledger.s3GetBytes ? [`S3 bytes: ${ledger.s3PutBytes} put, ${ledger.s3GetBytes} got`] : []),
  ].join('\n');
}

function requestTotal(ledger: CostLedger): number {
  return Object.values(ledger.requests).reduce((sum, count) => sum + count, 0);
}

export const COST_COMMANDS: Command[] = [
  {
    name: 'cost',
    args: '[instanceId]',
    summary: "what an instance cost (its ledger: requests, DynamoDB units, Lambda time, priced), or the instances updated in a window (--since), by orchestration with --by name",
    arity: [0, 1],
    options: {
      json: { type: 'boolean', description: 'print JSON instead of a table' },
      since: { type: 'string', description: 'the instances updated in this window, e.g. 7d (instead of one instance)' },
      name: { type: 'string', description: 'with --since: only instances of this orchestration' },
      status: { type: 'string', description: 'with --since: only instances with this status' },
      by: { type: 'string', description: 'with --since: name (one row per orchestration)' },
      prices: { type: 'string', description: 'a JSON file of prices overriding the defaults, e.g. {"lambdaArchitecture": "x86_64"}' },
    },
    notes: ['perdure cost order-42', 'perdure cost --since 7d --by name', 'perdure cost --since 1d --name order --prices prices.json'],
    async run({ api, values, positionals, io }) {
      const prices = await pricesFrom(values);
      const sinceText = str(values, 'since');
      const by = str(values, 'by');
      if (positionals.length === 1) {
        if (sinceText !== undefined || by !== undefined || str(values, 'name') !== undefined || str(values, 'status') !== undefined) throw new CliError('Pass an instance id, or select instances with --since (and --name, --status, --by), not both.');
        const status = await api().get<InstanceStatus>(`/instances/${enc(positionals[0]!)}`, { cost: 'true' });
        if (!status.cost) throw new CliError(`Instance ${status.instanceId} has no cost ledger: it was started before Perdure kept ledgers.`);
        // Without --prices, the API's (the app's createApp({ prices })).
        const cost = prices ? priceLedger(status.cost.ledger, prices) : status.cost;
        if (values.json) io.out(JSON.stringify({ instanceId: status.instanceId, name: status.name, status: status.status, cost }, null, 2));
        else io.out(instanceLines(status, cost));
        return;
      }
      if (sinceText === undefined) throw new CliError('Name an instance (perdure cost order-42), or select instances with --since, e.g. --since 7d [--by name].');
      if (by !== undefined && by !== 'name') throw new CliError(`--by takes name (one row per orchestration), got ${JSON.stringify(by)}.`);
      const since = Date.now() - toMilliseconds(sinceText, '--since');
      const selected = await selectInstanceStatuses(api(), { status: str(values, 'status'), name: str(values, 'name'), since, cost: true });
      // A listing gives the ledger as of each record's last write: an instance in flight is read on its own for its newest.
      const instances = await Promise.all(selected.map((instance) => (IN_FLIGHT.has(instance.status) ? api().get<InstanceStatus>(`/instances/${enc(instance.instanceId)}`, { cost: 'true' }) : Promise.resolve(instance))));
      const groups = new Map<string, { instances: number; withoutLedger: number; ledger: CostLedger }>();
      for (const instance of instances) {
        const key = by === 'name' ? instance.name : 'all';
        const group = groups.get(key) ?? { instances: 0, withoutLedger: 0, ledger: emptyLedger() };
        group.instances++;
        if (instance.cost) group.ledger = addLedgers(group.ledger, instance.cost.ledger);
        else group.withoutLedger++;
        groups.set(key, group);
      }
      const rows = [...groups].sort(([a], [b]) => a.localeCompare(b)).map(([key, group]) => ({ key, ...group, cost: priceLedger(group.ledger, prices ?? instances.find((instance) => instance.cost)?.cost?.prices) }));
      if (values.json) {
        io.out(JSON.stringify({ since: new Date(since).toISOString(), groups: rows.map(({ key, instances: count, withoutLedger, cost }) => ({ [by === 'name' ? 'name' : 'group']: key, instances: count, withoutLedger, cost })) }, null, 2));
        return;
      }
      if (rows.length === 0) {
        io.out(`No instance${str(values, 'name') !== undefined ? ` of ${str(values, 'name')}` : ''} was updated in the last ${sinceText}.`);
        return;
      }
      io.out(
        table(
          [by === 'name' ? 'orchestration' : 'instances updated', 'instances', 'steps', 'attempts', 'requests', 'WRU', 'RRU', 'GB-s', 'USD'],
          rows.map(({ key, instances: count, ledger, cost }) => [key === 'all' && by !== 'name' ? `last ${sinceText}` : key, String(count), number(ledger.steps), number(ledger.attempts), number(requestTotal(ledger)), number(ledger.wru), number(ledger.rru), ledger.gbSeconds.toFixed(3), usd(cost.totalUsd)]),
        ),
      );
      const missing = rows.reduce((sum, row) => sum + row.withoutLedger, 0);
      if (missing > 0) io.err(`${missing} instance${missing === 1 ? '' : 's'} started before ledgers were kept: counted as instances, with no cost.`);
    },
  },
];
