import type { Measurement } from './measure.js';

// Plain-text and Markdown rendering of one bench run. Reports only: nothing here fails a run.

export interface Row {
  label: string;
  result: Measurement;
  note: string;
  /** Its server works with a database server of its own (PostgreSQL), whose CPU counts as "other". */
  withDatabaseServer?: boolean;
}

export interface Check {
  name: string;
  value: string;
  target: string;
  /** undefined: reported only, there is no target to meet. */
  pass: boolean | undefined;
}

const verdict = (check: Check): string => (check.pass === undefined ? '' : check.pass ? 'PASS' : 'MISS');

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export const formatRps = (value: number): string => (Number.isFinite(value) ? integer.format(value) : 'n/a');
export const formatMs = (value: number): string =>
  !Number.isFinite(value) ? 'n/a' : value < 9.995 ? value.toFixed(2) : value < 99.95 ? value.toFixed(1) : value.toFixed(0);
const percent = (share: number): string => (Number.isFinite(share) ? `${Math.round(share * 100)}%` : 'n/a');
/** A burst's drain time, seconds; blank for timed scenarios, which have none. */
const drain = (result: Measurement): string => (result.drainSeconds === undefined ? '' : formatMs(result.drainSeconds));

function problems(result: Measurement): string {
  const parts = Object.entries(result.otherStatuses).map(([status, count]) => `${count}× HTTP ${status}`);
  if (result.errors > 0) parts.push(`${result.errors} errors (${result.timeouts} timeouts)`);
  return parts.length > 0 ? `!! ${parts.join(', ')}` : '';
}

function table(header: string[], rows: string[][], rightAligned: ReadonlySet<number>): string {
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (rightAligned.has(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}

export function resultsTable(rows: Row[]): string {
  return table(
    ['scenario', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'drain s', 'responses', 'req/s by round', 'srv µs/req', 'CPU srv/load/other', 'notes'],
    rows.map((row) => [
      row.label,
      formatRps(row.result.requestsPerSecond),
      formatMs(row.result.p50),
      formatMs(row.result.p99),
      formatMs(row.result.max),
      drain(row.result),
      integer.format(row.result.ok),
      row.result.roundRps.length > 1 ? row.result.roundRps.map(formatRps).join(' ') : '',
      formatRps(row.result.serverMicrosPerRequest),
      [row.result.serverCpu, row.result.loadCpu, row.result.otherCpu].map(percent).join(' / '),
      [row.note, problems(row.result)].filter(Boolean).join('; '),
    ]),
    new Set([1, 2, 3, 4, 5, 6, 7, 8, 9]),
  );
}

export function checksTable(checks: Check[]): string {
  return table(
    ['check', 'value', 'target', 'verdict'],
    checks.map((check) => [check.name, check.value, check.target, verdict(check)]),
    new Set([1]),
  );
}

export function markdown(rows: Row[], checks: Check[], environment: string): string {
  const lines = [
    `Measured on ${environment}.`,
    '',
    '| scenario | req/s | p50 ms | p99 ms | server µs/req | drain s |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows.map((row) => {
      const { requestsPerSecond, p50, p99, serverMicrosPerRequest } = row.result;
      // The bcrypt bursts and the naive design spend milliseconds of bcrypt per request: not comparable.
      const micros = p50 < 10 ? formatRps(serverMicrosPerRequest) : '';
      return `| ${row.label} | ${formatRps(requestsPerSecond)} | ${formatMs(p50)} | ${formatMs(p99)} | ${micros} | ${drain(row.result)} |`;
    }),
    '',
    '| check | value | target | |',
    '|---|---:|---|---|',
    ...checks.map((check) => `| ${check.name} | ${check.value} | ${check.target} | ${verdict(check)} |`),
  ];
  return lines.join('\n');
}
