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
