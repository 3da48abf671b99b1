import { NotFound } from '../errors.js';
import type { KeyDetails } from '../keys/api-key-service.js';
import { MAX_PAGE_SIZE } from '../list-query.js';
import { detailsResponse } from '../wire-format.js';
import { oneArgumentCommand, type Command, type CommandGroup } from './command.js';
import { ISSUE_COMMANDS } from './issue-keys.js';
import { asOperator } from './operator.js';
import { HELP_OPTION, JSON_OPTION, parseCommand, requiredArgument, type Options } from './options.js';
import { print, printJson } from './output.js';
import { alignedColumns, clip, shownTime, table } from './tables.js';

// `keygate keys ...`: every user's keys, read and changed as the operator. Creating and rotating,
// which hand out a key, are issue-keys.ts's.

const KEYS_USAGE = `Usage: keygate keys <subcommand> [options]

Manages every user's API keys as the operator, by the rules the server applies; every change is
audited as cli:<your OS user>. Run it in the server's environment (the same DATABASE_URL, and
KEYGATE_KEY_PEPPER if the server has one), or its keys will not verify.

Subcommands:
  list [--user <id>] [--status <status>] [--environment <env>] [--json]
      Every user's keys, newest first.
  show <key_id> [--json]
      One key in full.
  create --user <id> --name <name> [--scope <scope> ...] [--expires-days <days>] [...]
      Create a key for a user and print it, this once.
  rotate <key_id> [--grace <duration>] [--json]
      Give a key a new secret and print it, this once.
  disable <key_id>
      Refuse the key until it is enabled again.
  enable <key_id>
      Accept a disabled key again.
  revoke <key_id>
      Delete the key for good.

"keygate keys <subcommand> --help" prints its options.`;

const LIST_USAGE = `Usage: keygate keys list [--user <id>] [--status active|disabled] [--environment live|test] [--json]

Prints every user's API keys that pass the filters, newest first: a table, or with --json an
array of the objects GET /api/v1/admin/api-keys/{key_id} answers (APIKeyDetails). Never a key.

Options:
  --user <id>            Only this user's keys.
  --status <status>      Only active, or only disabled, keys.
  --environment <env>    Only live, or only test, keys.
  --json                 Print JSON instead of a table.
  -h, --help             Print this help.`;

const SHOW_USAGE = `Usage: keygate keys show <key_id> [--json]

Prints one key in full: owner, settings, quota left, a grace in progress. Never the key itself.

Options:
  --json        Print the key as GET /api/v1/admin/api-keys/{key_id} answers it (APIKeyDetails).
  -h, --help    Print this help.`;

const oneKeyUsage = (name: string, what: string) => `Usage: keygate keys ${name} <key_id>

${what}

Options:
  -h, --help    Print this help.`;

const LIST_OPTIONS = {
  user: { type: 'string' },
  status: { type: 'string' },
  environment: { type: 'string' },
  ...JSON_OPTION,
  ...HELP_OPTION,
} satisfies Options;

async function list(args: string[]): Promise<void> {
  const { values } = parseCommand('keys list', args, LIST_OPTIONS);
  if (values.help) return print(LIST_USAGE);
  const keys = await asOperator(async ({ apiKeys }, actor) => {
    const { user: userId, status, environment } = values;
    const found: KeyDetails[] = [];
    let cursor: string | undefined;
    do {
      const page = await apiKeys.listAll(actor, { userId, status, environment, limit: MAX_PAGE_SIZE, cursor });
      found.push(...page.keys);
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    return found;
  });
  if (values.json) return printJson(keys.map(detailsResponse));
  print(table(KEY_COLUMNS, keys.map(keyRow)));
}

const KEY_COLUMNS = ['KEY ID', 'USER', 'NAME', 'ENV', 'STATUS', 'SCOPES', 'CREATED', 'EXPIRES', 'LAST USED'];

// Names and scopes may be long: cut in the table, whole in show and --json.
const NAME_WIDTH = 32;
const SCOPES_WIDTH = 40;

function keyRow(key: KeyDetails): string[] {
  return [
    key.keyId,
    key.userId,
    clip(key.name, NAME_WIDTH),
    key.environment,
    key.settings.status,
    clip(key.settings.scopes.join(',') || '-', SCOPES_WIDTH),
    shownTime(key.created),
    shownTime(key.expiresAt),
    shownTime(key.lastUsed, 'never'),
  ];
}

const SHOW_OPTIONS = { ...JSON_OPTION, ...HELP_OPTION } satisfies Options;

async function show(args: string[]): Promise<void> {
  const { values, positionals } = parseCommand('keys show', args, SHOW_OPTIONS, 1);
  if (values.help) return print(SHOW_USAGE);
  const keyId = requiredArgument('keys show', positionals, '<key_id>');
  const key = await asOperator(({ apiKeys }, actor) => apiKeys.get(actor, keyId));
  if (values.json) return printJson(detailsResponse(key));
  print(keyText(key));
}

/** One key, a field a line. */
function keyText(key: KeyDetails): string {
  const { scopes, metadata, status, rateLimit, quota } = key.settings;
  const lines: [string, string][] = [
    ['KEY ID', key.keyId],
    ['USER', key.userId],
    ['NAME', key.name],
    ['ENVIRONMENT', key.environment],
    ['STATUS', status],
    ['SCOPES', scopes.join(', ') || '(none)'],
    ['METADATA', Object.keys(metadata).length === 0 ? '(none)' : JSON.stringify(metadata)],
    ['RATE LIMIT', rateLimit === null ? "the server's limit per key" : `${rateLimit} verifications per minute`],
    ['QUOTA', quota === null ? 'none' : quotaText(quota, key.nextRefillAt)],
    ['CREATED', shownTime(key.created)],
    ['EXPIRES', shownTime(key.expiresAt)],
    ['LAST USED', shownTime(key.lastUsed, 'never')],
  ];
  if (key.previousKeyExpiresAt !== null) lines.push(['PREVIOUS KEY', `still works until ${shownTime(key.previousKeyExpiresAt)}`]);
  return alignedColumns(lines);
}

function quotaText(quota: NonNullable<KeyDetails['settings']['quota']>, nextRefillAt: string | null): string {
  const left = `${quota.remaining} verifications left`;
  if (quota.refill === null) return `${left}, never refilled`;
  return `${left}, back to ${quota.refill.amount} every ${quota.refill.interval} (next ${shownTime(nextRefillAt)})`;
}

/** disable and enable: a status change, and the words that tell it. */
function statusCommand(name: 'disable' | 'enable', status: 'disabled' | 'active', what: string, done: string): Command {
  return oneArgumentCommand(`keys ${name}`, oneKeyUsage(name, what), '<key_id>', async (keyId) => {
    await asOperator(({ apiKeys }, actor) => apiKeys.setStatus(actor, keyId, status));
    return `${done} API key ${keyId}.`;
  });
}

const REVOKE_USAGE = oneKeyUsage('revoke', 'Deletes the key for good: it is refused from now on, and cannot be brought back.');

const REVOKE_COMMAND = oneArgumentCommand('keys revoke', REVOKE_USAGE, '<key_id>', async (keyId) => {
  await asOperator(async ({ apiKeys }, actor) => {
    // HTTP's DELETE answers alike whether there was a key; an operator who mistyped it is told (exit 3).
    if (!(await apiKeys.revoke(actor, keyId))) throw new NotFound('API key not found');
  });
  return `Revoked API key ${keyId}.`;
});

export const KEYS_GROUP: CommandGroup = {
  name: 'keys',
  usage: KEYS_USAGE,
  commands: [
    { name: 'keys list', usage: LIST_USAGE, run: list },
    { name: 'keys show', usage: SHOW_USAGE, run: show },
    ...ISSUE_COMMANDS,
    statusCommand('disable', 'disabled', 'Disables the key: it is refused until "keygate keys enable" accepts it again.', 'Disabled'),
    statusCommand('enable', 'active', 'Enables a disabled key: it is accepted again.', 'Enabled'),
    REVOKE_COMMAND,
  ],
};
