import type { HistoryEvent } from '../core/history-events.js';

/** A plain-text table: columns padded to their widest cell, a header underlined. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[]) => cells.map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ').trimEnd();
  return [line(headers), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}

/** A value shortened for one table cell; strings shown as JSON so control characters stay visible. */
export function brief(value: unknown, max = 60): string {
  if (value === undefined) return '';
  const text = JSON.stringify(value) ?? typeof value;
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** `+1.234s` after the first event: a history reads as a timeline. */
function offset(ms: number): string {
  return ms < 1000 ? `+${ms}ms` : ms < 60_000 ? `+${(ms / 1000).toFixed(3)}s` : `+${(ms / 60_000).toFixed(1)}min`;
}

/** What an event says, in a few words: the activity and attempt, the timer and when it fires, the error. */
function describe(event: HistoryEvent, names: Map<number, string>): string {
  switch (event.type) {
    case 'ExecutionStarted':
      return `${event.name}@${event.version} input ${brief(event.input)}`;
    case 'ActivityScheduled':
      return `${event.name} attempt ${event.attempt} input ${brief(event.input, 40)}`;
    case 'ActivityCompleted':
      return `${names.get(event.taskId) ?? ''} → ${brief(event.result)}`;
    case 'ActivityFailed':
    case 'SubOrchestrationFailed':
    case 'ExecutionFailed':
      return `${'taskId' in event ? `${names.get(event.taskId) ?? ''} ` : ''}${event.error.name}: ${event.error.message}`;
    case 'TimerCreated':
      return `${event.purpose} until ${new Date(event.fireAt).toISOString()}`;
    case 'SubOrchestrationScheduled':
      return `${event.name} as ${event.instanceId}`;
    case 'SubOrchestrationCompleted':
      return `${names.get(event.taskId) ?? ''} → ${brief(event.output)}`;
    case 'EventRaised':
      return `${event.name} ${brief(event.data)}`;
    case 'PatchMarker':
      return event.changeId;
    case 'ExecutionSuspended':
    case 'ExecutionTerminated':
      return event.reason ?? '';
    case 'ContinuedAsNew':
      return `version ${event.version} input ${brief(event.input)}`;
    case 'ExecutionCompleted':
      return `output ${brief(event.output)}`;
    default:
      return '';
  }
}

/** A history as a table: position, time since start, event, task, details. */
export function historyTable(events: HistoryEvent[]): string {
  const first = events[0]?.timestamp ?? 0;
  const names = new Map<number, string>();
  const rows = events.map((event) => {
    if (event.type === 'ActivityScheduled' || event.type === 'SubOrchestrationScheduled') names.set(event.taskId, event.name);
    const task = 'taskId' in event ? String(event.taskId) : '';
    return [String(event.eventId), offset(event.timestamp - first), event.type, task, describe(event, names)];
  });
  return table(['#', 'time', 'event', 'task', 'details'], rows);
}

/** `[########------------] 12/30`: redrive progress on a terminal. */
export function progressBar(done: number, total: number, width = 30): string {
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total}`;
}
