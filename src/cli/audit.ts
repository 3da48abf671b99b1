import { AUDIT_ACTIONS, type AuditEvent } from '../audit/audit-event.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../list-query.js';
import { auditEventResponse } from '../wire-format.js';
import type { Command } from './command.js';
import { asOperator } from './operator.js';
import { durationSeconds, HELP_OPTION, JSON_OPTION, parseCommand, type Options } from './options.js';
import { print, printJson, warn } from './output.js';
import { clip, shownTime, table } from './tables.js';

// `keygate audit`: the audit trail, everyone's, newest first, as the operator reads it.

const USAGE = `Usage: keygate audit [--user <id>] [--key <key_id>] [--action <action>] [--since <time>]
                     [--until <time>] [--limit <n>] [--json]

Prints the audit trail, newest first: every change to a key, who made it, and refused attempts.
A table, or with --json an array of the events GET /api/v1/audit answers (AuditEvent).

Options:
  --user <id>          Only events about this user's keys.
  --key <key_id>       Only events about this key.
  --action <action>    Only this action: ${AUDIT_ACTIONS.join(', ')}.
  --since <time>       Only events at or after <time>: an RFC 3339 time such as
                       2027-01-31T00:00:00Z, or a duration ago such as 24h or 7d.
  --until <time>       Only events before <time>, written as for --since.
  --limit <n>          At most <n> events, the newest (default ${DEFAULT_PAGE_SIZE}, at most ${MAX_PAGE_SIZE}).
  --json               Print JSON instead of a table.
  -h, --help           Print this help.`;

const OPTIONS = {
  user: { type: 'string' },
  key: { type: 'string' },
  action: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  limit: { type: 'string' },
  ...JSON_OPTION,
  ...HELP_OPTION,
} satisfies Options;

async function audit(args: string[]): Promise<void> {
  const { values } = parseCommand('audit', args, OPTIONS);
  if (values.help) return print(USAGE);
  const now = Date.now();
  const page = await asOperator(({ audit }, actor) =>
    audit.find(actor, {
      userId: values.user,
      keyId: values.key,
      action: values.action,
      since: timeArgument(values.since, now),
      until: timeArgument(values.until, now),
      limit: values.limit,
    }),
  );
  if (values.json) printJson(page.events.map(auditEventResponse));
  else print(table(EVENT_COLUMNS, page.events.map(eventRow)));
  if (page.nextCursor !== null) {
    warn(`more events match than the ${page.events.length} shown (the newest): narrow with --since or --until, or raise --limit (at most ${MAX_PAGE_SIZE})`);
  }
}

/** A duration means that long before `now`; anything else goes to the domain as the time it should be. */
function timeArgument(text: string | undefined, now: number): string | undefined {
  if (text === undefined) return undefined;
  const seconds = durationSeconds(text);
  return seconds === undefined ? text : new Date(now - seconds * 1000).toISOString();
}

const EVENT_COLUMNS = ['TIME', 'ACTOR', 'ACTION', 'OUTCOME', 'KEY ID', 'OWNER', 'CHANGES'];

/** The changes cell: long enough to tell what happened; --json has it all. */
const CHANGES_WIDTH = 80;

function eventRow(event: AuditEvent): string[] {
  return [
    shownTime(event.occurredAt),
    `${event.actor.type}:${event.actor.id}`,
    event.action,
    event.outcome,
    event.keyId ?? '-',
    event.ownerId ?? '-',
    clip(changesSummary(event) || '-', CHANGES_WIDTH),
  ];
}

/**
 * Each changed field as `field: old → new`, or `field=value` when it has a value on one side only
 * (a create's new fields, what a revoke deleted); then the detail (a rotation's grace, a
 * refusal's reason) as `name=value`.
 */
function changesSummary(event: AuditEvent): string {
  const changes = Object.entries(event.changes).map(([field, { old, new: next }]) => {
    if (old === null || next === null) return `${field}=${shownValue(old ?? next)}`;
    return `${field}: ${shownValue(old)} → ${shownValue(next)}`;
  });
  const detail = Object.entries(event.detail).map(([name, value]) => `${name}=${shownValue(value)}`);
  return [...changes, ...detail].join(', ');
}

/** Text as it reads, anything else as JSON. */
function shownValue(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export const AUDIT_COMMAND: Command = { name: 'audit', usage: USAGE, run: audit };
