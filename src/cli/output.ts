// Where the CLI's words go: results on stdout, for a pipe or a person; what a person must know
// about them on stderr, so that stdout stays the result alone.

export function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** --json output: indented, so that it reads as well as it parses. */
export function printJson(value: unknown): void {
  print(JSON.stringify(value, null, 2));
}

export function warn(text: string): void {
  process.stderr.write(`keygate: ${text}\n`);
}
