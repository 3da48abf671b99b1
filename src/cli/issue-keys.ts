import type { IssuedKey } from '../keys/api-key-service.js';
import { issuedKeyResponse } from '../wire-format.js';
import type { Command } from './command.js';
import { asOperator } from './operator.js';
import {
  durationSeconds,
  HELP_OPTION,
  jsonArgument,
  JSON_OPTION,
  numberArgument,
  parseCommand,
  type ParsedCommand,
  requiredArgument,
  requiredOption,
  UsageError,
  type Options,
} from './options.js';
import { print, printJson, warn } from './output.js';
import { shownTime } from './tables.js';

// `keygate keys create` and `keygate keys rotate`: the two commands that hand out a key, which
// they print once, as the last line of stdout (or in --json's api_key), and never again.

const CREATE_USAGE = `Usage: keygate keys create --user <id> --name <name> [options]

Creates an API key for user <id> (any user id: a person, a service account) and prints it on
the last line of stdout, this once: keygate keeps only its hash.

Options:
  --user <id>               The key's owner (required).
  --name <name>             What the key is for, as its owner will read it (required).
  --scope <scope>           A scope the key grants; repeat for several.
  --expires-days <days>     Days until it expires: default 365, at most KEYGATE_MAX_EXPIRES_DAYS.
  --environment <env>       live (the default) or test: the key's prefix says which.
  --quota <n>               Verifications the key may make in all (or per refill period).
  --refill <n>/<interval>   With --quota: back to <n> verifications every hour, day or month,
                            such as 1000/day.
  --rate-limit <n>          Verifications per minute (default: the server's limit per key).
  --metadata <json>         A JSON object kept with the key and handed back with each
                            verification, such as '{"team":"billing"}'.
  --json                    Print the key as a JSON object (its secret in api_key).
  -h, --help                Print this help.`;

const ROTATE_USAGE = `Usage: keygate keys rotate <key_id> [--grace <duration>] [--json]

Gives the key a new secret, everything else kept, and prints it on the last line of stdout,
this once. The old secret stops working at once, or after the grace.

Options:
  --grace <duration>    Keep the old secret working this long beside the new one, such as
                        30m or 1h (at most KEYGATE_MAX_GRACE_SECONDS), while clients move.
  --json                Print the key as a JSON object (its new secret in api_key).
  -h, --help            Print this help.`;

const ONCE = 'this is the only time the key is shown: store it now, it cannot be read back';

const CREATE_OPTIONS = {
  user: { type: 'string' },
  name: { type: 'string' },
  scope: { type: 'string', multiple: true },
  'expires-days': { type: 'string' },
  environment: { type: 'string' },
  quota: { type: 'string' },
  refill: { type: 'string' },
  'rate-limit': { type: 'string' },
  metadata: { type: 'string' },
  ...JSON_OPTION,
  ...HELP_OPTION,
} satisfies Options;

type CreateValues = ParsedCommand<typeof CREATE_OPTIONS>['values'];

async function create(args: string[]): Promise<void> {
  const command = 'keys create';
  const { values } = parseCommand(command, args, CREATE_OPTIONS);
  if (values.help) return print(CREATE_USAGE);
  const userId = requiredOption(command, values.user, '--user <id>');
  const name = requiredOption(command, values.name, '--name <name>');
  const expiresDays = values['expires-days'];
  const settings = createSettings(command, values);
  const issued = await asOperator(({ apiKeys }, actor) =>
    apiKeys.create(actor, {
      userId,
      name,
      expiresDays: expiresDays === undefined ? undefined : numberArgument(expiresDays),
      environment: values.environment,
      settings,
    }),
  );
  printIssued(issued, values.json, `Created API key ${issued.keyId} for ${issued.userId}, expiring ${shownTime(issued.expiresAt)}:`);
}

/**
 * The settings fields of create's options, as the HTTP body names them: only those given, so that
 * the others take the domain's defaults, and as JSON would carry them, for the domain to judge.
 */
function createSettings(command: string, values: CreateValues): Record<string, unknown> {
  const settings: Record<string, unknown> = {};
  if (values.scope !== undefined) settings.scopes = values.scope;
  if (values.metadata !== undefined) settings.metadata = jsonArgument(command, '--metadata', values.metadata, '{"team":"billing"}');
  if (values['rate-limit'] !== undefined) settings.rate_limit = numberArgument(values['rate-limit']);
  if (values.quota !== undefined || values.refill !== undefined) {
    const quota: Record<string, unknown> = {};
    if (values.quota !== undefined) quota.remaining = numberArgument(values.quota);
    if (values.refill !== undefined) quota.refill = refillArgument(command, values.refill);
    settings.quota = quota;
  }
  return settings;
}

/** --refill's <amount>/<interval> as the quota's refill object; the domain judges both parts. */
function refillArgument(command: string, text: string): Record<string, unknown> {
  const match = /^([^/]+)\/([^/]+)$/.exec(text);
  if (match === null) throw new UsageError(`--refill must be <amount>/<interval>, such as 1000/day, got "${text}"`, command);
  return { amount: numberArgument(match[1]!), interval: match[2]! };
}

const ROTATE_OPTIONS = {
  grace: { type: 'string' },
  ...JSON_OPTION,
  ...HELP_OPTION,
} satisfies Options;

async function rotate(args: string[]): Promise<void> {
  const command = 'keys rotate';
  const { values, positionals } = parseCommand(command, args, ROTATE_OPTIONS, 1);
  if (values.help) return print(ROTATE_USAGE);
  const keyId = requiredArgument(command, positionals, '<key_id>');
  const graceSeconds = values.grace === undefined ? undefined : graceArgument(command, values.grace);
  const rotated = await asOperator(({ apiKeys }, actor) => apiKeys.rotate(actor, keyId, { graceSeconds }));
  const old = values.grace === undefined ? 'the old key no longer works' : `the old key keeps working for ${values.grace}`;
  printIssued(rotated, values.json, `Rotated API key ${rotated.keyId}: ${old}. The new key:`);
}

function graceArgument(command: string, text: string): number {
  const seconds = durationSeconds(text);
  if (seconds === undefined) throw new UsageError(`--grace must be a duration such as 30m, 1h or 0s, got "${text}"`, command);
  return seconds;
}

/** The key, this once: a line about it, then the key alone on the last line (or --json's object). */
function printIssued(issued: IssuedKey, json: boolean | undefined, about: string): void {
  if (json) {
    printJson(issuedKeyResponse(issued));
  } else {
    print(about);
    print(issued.apiKey);
  }
  warn(ONCE);
}

export const ISSUE_COMMANDS: Command[] = [
  { name: 'keys create', usage: CREATE_USAGE, run: create },
  { name: 'keys rotate', usage: ROTATE_USAGE, run: rotate },
];
