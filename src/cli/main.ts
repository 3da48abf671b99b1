import { readFileSync } from 'node:fs';
import { AUDIT_COMMAND } from './audit.js';
import type { Command, CommandGroup } from './command.js';
import { errorLine, EXIT_CODES, exitCodeOf } from './errors.js';
import { KEYS_GROUP } from './keys.js';
import { HELP_OPTION, parseCommand, UsageError } from './options.js';
import { print } from './output.js';
import { TOKEN_COMMAND } from './token.js';
import { USERS_GROUP } from './users.js';

// `keygate <command> ...`: finds the command the words name, runs it, and turns what it throws
// into one line on stderr and an exit code (errors.ts).

const USAGE = `Usage: keygate <command> [options]

Commands:
  keys list|show|create|rotate|disable|enable|revoke ...
      Manage every user's API keys as the operator ("keygate keys --help").
  audit [--user <id>] [--key <key_id>] [--action <action>] [--since <time>] ...
      Print the audit trail: who changed which key, and refused attempts.
  users add|list|remove|set-password ...
      Manage the local accounts that sign in with a password ("keygate users --help").
  token --user <id> [--ttl <duration>] [--scope <scope> ...]
      Print a bearer token for user <id>, signed like the server's (same environment).
  help [<command>]
      Print this help, or a command's.
  version
      Print keygate's version (also --version).

Options:
  -h, --help     Print this help.
  --version      Print keygate's version.

"keygate <command> --help" prints a command's options. keys, users, audit and token open the server's
database: run them in its environment (the same folder, DATABASE_URL, KEYGATE_SECRET). keys and
audit act as "cli:<your OS user>", which the audit trail records.

Exit codes:
  ${EXIT_CODES.ok}  Success.
  ${EXIT_CODES.failed}  keygate could not run: a setting, a database that does not answer, a failure of its own.
  ${EXIT_CODES.usage}  A mistake in the command line, or a value keygate refuses (the line names the option).
  ${EXIT_CODES.notFound}  No API key has that key_id (no account has that username).
  ${EXIT_CODES.refused}  Refused by a rule or a race: the user holds the most keys allowed, or a concurrent
     change of the key won (look again and retry), or the username is taken.`;

const HELP_USAGE = `Usage: keygate help [<command>]

Prints keygate's help, or a command's, such as "keygate help keys create".`;

const VERSION_USAGE = "Usage: keygate version\n\nPrints keygate's version.";

/** The version in package.json, three folders up from dist/src/cli/main.js. */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** `version` takes only --help: anything else is a mistake worth saying. */
function version(args: string[]): void {
  const { values } = parseCommand('version', args, HELP_OPTION);
  print(values.help ? VERSION_USAGE : packageVersion());
}

/** `help [<command>]`: keygate's help, or that command's (`help keys`, `help keys create`). */
function help(args: string[]): void {
  if (args.length === 0) return print(USAGE);
  const name = args.join(' ');
  const usage = usageOf(name);
  if (usage === undefined) throw new UsageError(`unknown command "${name}"`);
  print(usage);
}

const HELP_COMMAND: Command = { name: 'help', usage: HELP_USAGE, run: help };
const VERSION_COMMAND: Command = { name: 'version', usage: VERSION_USAGE, run: version };

const GROUPS: CommandGroup[] = [KEYS_GROUP, USERS_GROUP];

const COMMANDS: Command[] = [...KEYS_GROUP.commands, ...USERS_GROUP.commands, AUDIT_COMMAND, TOKEN_COMMAND, HELP_COMMAND, VERSION_COMMAND];

function usageOf(name: string): string | undefined {
  return (GROUPS.find((group) => group.name === name) ?? COMMANDS.find((command) => command.name === name))?.usage;
}

const isHelpFlag = (word: string | undefined) => word === '-h' || word === '--help';

/** The command `argv` names, and the arguments it is given; a group's --help is a command of its own. */
function resolve(argv: string[]): { command: Command; args: string[] } {
  const [word, ...rest] = argv;
  if (word === undefined) throw new UsageError('no command given');
  if (isHelpFlag(word)) return { command: HELP_COMMAND, args: rest };
  if (word === '--version') return { command: VERSION_COMMAND, args: rest };
  const group = GROUPS.find((candidate) => candidate.name === word);
  if (group !== undefined) return resolveIn(group, rest);
  const command = COMMANDS.find((candidate) => candidate.name === word);
  if (command !== undefined) return { command, args: rest };
  throw new UsageError(word.startsWith('-') ? `unknown option ${word}` : `unknown command "${word}"`);
}

function resolveIn(group: CommandGroup, argv: string[]): { command: Command; args: string[] } {
  const [word, ...rest] = argv;
  if (word === undefined) throw new UsageError('no subcommand given', group.name);
  if (isHelpFlag(word)) return { command: { name: group.name, usage: group.usage, run: () => print(group.usage) }, args: [] };
  const command = group.commands.find((candidate) => candidate.name === `${group.name} ${word}`);
  if (command !== undefined) return { command, args: rest };
  throw new UsageError(word.startsWith('-') ? `unknown option ${word}` : `unknown subcommand "${word}"`, group.name);
}

/** Runs the command line `argv` names; the exit code it ends with. */
export async function run(argv: string[]): Promise<number> {
  let running: Command | undefined;
  try {
    const { command, args } = resolve(argv);
    running = command;
    await command.run(args);
    return EXIT_CODES.ok;
  } catch (error) {
    await new Promise<void>((resolve) => process.stderr.write(`${errorLine(error, running?.name)}\n`, () => resolve()));
    return exitCodeOf(error);
  }
}
