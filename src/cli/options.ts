import { parseArgs, type ParseArgsConfig } from 'node:util';

// Reading a command line: the options a command takes, its arguments, and the values the domain
// is handed as JSON would carry them. Judging those values is the domain's job, not this one's.

export type Options = NonNullable<ParseArgsConfig['options']>;

/** A mistake in the command line: one line on stderr naming it, and exit code 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    /** The command whose --help lists what is allowed; undefined for keygate itself. */
    readonly command?: string,
  ) {
    super(message);
  }
}

/** What every command takes. */
export const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const satisfies Options;

/** What every command that prints keys or events takes: JSON instead of text for people. */
export const JSON_OPTION = { json: { type: 'boolean' } } as const satisfies Options;

/**
 * Refuses, with a message of its own, what node's strict parseArgs would refuse with a
 * multi-line one: an unknown option, an option without its value (`--user --ttl 1h` is a missing
 * user, not the user "--ttl"), a value given to a flag, more arguments than the command takes,
 * and an option given twice that is not meant to repeat.
 */
function checkOptions(command: string, args: string[], options: Options, maxArguments: number): void {
  const { tokens } = parseArgs({ args, options, strict: false, allowPositionals: true, tokens: true });
  const seen = new Set<string>();
  let positionals = 0;
  for (const token of tokens) {
    if (token.kind === 'positional') {
      positionals += 1;
      if (positionals > maxArguments) throw new UsageError(`unexpected argument "${token.value}"`, command);
      continue;
    }
    if (token.kind === 'option-terminator') throw new UsageError('unexpected argument "--"', command);
    const spec = options[token.name];
    if (spec === undefined) throw new UsageError(`unknown option ${token.rawName}`, command);
    if (spec.type === 'boolean' && token.value !== undefined) throw new UsageError(`${token.rawName} takes no value`, command);
    if (spec.type === 'string' && (token.value === undefined || (!token.inlineValue && token.value.startsWith('-')))) {
      throw new UsageError(`${token.rawName} needs a value`, command);
    }
    if (seen.has(token.name) && !spec.multiple) throw new UsageError(`${token.rawName} is given twice`, command);
    seen.add(token.name);
  }
}

/** The options and arguments of a command line, typed by the options it takes. */
export type ParsedCommand<T extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: true }>>;

/** `args` read as `command` takes them: these options, and at most `maxArguments` arguments. */
export function parseCommand<T extends Options>(command: string, args: string[], options: T, maxArguments = 0): ParsedCommand<T> {
  checkOptions(command, args, options, maxArguments);
  return parseArgs({ args, options, strict: true, allowPositionals: true });
}

/** The argument a command needs (a KEY_ID), once --help has had its chance. */
export function requiredArgument(command: string, positionals: string[], name: string): string {
  const [value] = positionals;
  if (value === undefined) throw new UsageError(`${name} is required`, command);
  return value;
}

/** An option a command cannot do without, once --help has had its chance. */
export function requiredOption(command: string, value: string | undefined, usage: string): string {
  if (value === undefined) throw new UsageError(`${usage} is required`, command);
  return value;
}

const SECONDS_PER_UNIT = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 } as const;

/** Seconds in a duration such as 30m, 12h or 7d; undefined for text that is none. */
export function durationSeconds(text: string): number | undefined {
  const match = /^(\d+)\s*(s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|weeks?)$/i.exec(text);
  if (!match) return undefined;
  // Every unit the pattern allows is named by its first letter.
  const unit = match[2]!.charAt(0).toLowerCase() as keyof typeof SECONDS_PER_UNIT;
  return Number(match[1]) * SECONDS_PER_UNIT[unit];
}

/**
 * A number given as text, as a JSON body would carry it: digits become a number; anything else
 * stays text, which the domain refuses as no integer, naming its field.
 */
export function numberArgument(text: string): number | string {
  return /^[+-]?\d+$/.test(text) ? Number(text) : text;
}

/** The value of an option that takes JSON, such as --metadata. */
export function jsonArgument(command: string, option: string, text: string, example: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${option} must be JSON, such as '${example}': ${(error as Error).message}`, command);
  }
}
