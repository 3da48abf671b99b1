import { HELP_OPTION, parseCommand, requiredArgument } from './options.js';
import { print } from './output.js';

// What main.ts dispatches to: each command names itself, says how it is used, and runs.

export interface Command {
  /** The words after `keygate` that name it: 'audit', 'keys create'. */
  name: string;
  /** Its --help. */
  usage: string;
  run(args: string[]): Promise<void> | void;
}

/** Commands under one word (`keygate keys <subcommand>`), with a --help of their own. */
export interface CommandGroup {
  name: string;
  usage: string;
  commands: Command[];
}

/**
 * A command that takes one argument and --help alone (`keys revoke <key_id>`, `users remove
 * <username>`): `act` does it and answers the line that says what it did.
 */
export function oneArgumentCommand(name: string, usage: string, argument: string, act: (value: string) => Promise<string>): Command {
  return {
    name,
    usage,
    async run(args) {
      const { values, positionals } = parseCommand(name, args, HELP_OPTION, 1);
      if (values.help) return print(usage);
      print(await act(requiredArgument(name, positionals, argument)));
    },
  };
}
