import type { Account } from '../accounts/accounts.js';
import { oneArgumentCommand, type CommandGroup } from './command.js';
import { asOperator } from './operator.js';
import { HELP_OPTION, JSON_OPTION, parseCommand, requiredArgument, type Options } from './options.js';
import { print, printJson } from './output.js';
import { readNewPassword } from './password-input.js';
import { shownTime, table } from './tables.js';

// `keygate users ...`: the local accounts that sign in to the dashboard and /auth/login.

const PASSWORD_HELP = `The password is asked twice, without echo, at a terminal; otherwise it is read from stdin
(one line: printf '%s\\n' "$PASSWORD" | keygate users ...). Never as an argument, which ps shows.
At least 12 characters, at most 1024 bytes.`;

const USERS_USAGE = `Usage: keygate users <subcommand> [options]

Manages the local accounts that sign in with a password (the dashboard, POST /auth/login). An
account's user id is its username: keys a token for that user made are the account's.

Subcommands:
  add <username> [--admin]
      Make an account; --admin makes it an admin (every user's keys).
  list [--json]
      Every account.
  remove <username>
      Delete an account and end its sessions; its keys stay.
  set-password <username>
      Give an account a new password and end its sessions.

"keygate users <subcommand> --help" prints its options.`;

const ADD_USAGE = `Usage: keygate users add <username> [--admin]

Makes a local account. The username: 1 to 64 ASCII letters, digits, '.', '_', '@' or '-',
starting with a letter or digit, unique case-insensitively.
${PASSWORD_HELP}

Options:
  --admin       An admin account: its sign-ins carry the admin scope (KEYGATE_ADMIN_SCOPE).
  -h, --help    Print this help.`;

const LIST_USAGE = `Usage: keygate users list [--json]

Prints every local account: username, whether it is an admin, when it was made. Never a password
or its hash.

Options:
  --json        Print a JSON array of {user_id, username, admin, created_at}.
  -h, --help    Print this help.`;

const REMOVE_USAGE = `Usage: keygate users remove <username>

Deletes the account and ends its sessions and refresh tokens at once. Its API keys stay (an
admin may revoke them); an access token already handed out works until it expires.

Options:
  -h, --help    Print this help.`;

const SET_PASSWORD_USAGE = `Usage: keygate users set-password <username>

Gives the account a new password and ends its sessions and refresh tokens at once.
${PASSWORD_HELP}

Options:
  -h, --help    Print this help.`;

const ADD_OPTIONS = { admin: { type: 'boolean' }, ...HELP_OPTION } satisfies Options;

async function add(args: string[]): Promise<void> {
  const { values, positionals } = parseCommand('users add', args, ADD_OPTIONS, 1);
  if (values.help) return print(ADD_USAGE);
  const username = requiredArgument('users add', positionals, '<username>');
  const password = await readNewPassword('users add');
  const admin = values.admin === true;
  const account = await asOperator(({ accounts }) => accounts.add(username, password, { admin }));
  print(`Added ${admin ? 'admin ' : ''}account ${account.username}.`);
}

const LIST_OPTIONS = { ...JSON_OPTION, ...HELP_OPTION } satisfies Options;

async function list(args: string[]): Promise<void> {
  const { values } = parseCommand('users list', args, LIST_OPTIONS);
  if (values.help) return print(LIST_USAGE);
  const accounts = await asOperator(({ accounts }) => accounts.list());
  if (values.json) return printJson(accounts.map(accountJson));
  print(table(['USERNAME', 'ADMIN', 'CREATED'], accounts.map((account) => [account.username, account.admin ? 'yes' : 'no', shownTime(account.createdAt)])));
}

function accountJson(account: Account) {
  return { user_id: account.userId, username: account.username, admin: account.admin, created_at: account.createdAt };
}

export const USERS_GROUP: CommandGroup = {
  name: 'users',
  usage: USERS_USAGE,
  commands: [
    { name: 'users add', usage: ADD_USAGE, run: add },
    { name: 'users list', usage: LIST_USAGE, run: list },
    oneArgumentCommand('users remove', REMOVE_USAGE, '<username>', async (username) => {
      const account = await asOperator(({ accounts }) => accounts.remove(username));
      return `Removed account ${account.username}; its sessions are ended.`;
    }),
    oneArgumentCommand('users set-password', SET_PASSWORD_USAGE, '<username>', async (username) => {
      // Read before the database is opened: a person may take a while to type it.
      const password = await readNewPassword('users set-password');
      const account = await asOperator(({ accounts }) => accounts.setPassword(username, password));
      return `Set a new password for ${account.username}; its sessions are ended.`;
    }),
  ],
};
