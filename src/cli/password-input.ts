import { UsageError } from './options.js';

// A new password for `keygate users add|set-password`: typed twice without echo at a terminal,
// or one line on stdin from a pipe (a script, a secret manager). Never an argument: argv shows
// in `ps` and in shell history.

const CTRL_C = '\u0003';
const CTRL_D = '\u0004';
const BACKSPACE = ['\u007f', '\b'];

export async function readNewPassword(command: string): Promise<string> {
  if (!process.stdin.isTTY) return readPipedPassword(command);
  const password = await promptHidden('Password: ');
  const again = await promptHidden('Password again: ');
  if (password !== again) throw new UsageError('the two passwords differ', command);
  return password;
}

/** All of stdin, which must be one line (its newline, LF or CRLF, is not part of the password). */
async function readPipedPassword(command: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (/[\r\n]/.test(text)) throw new UsageError('the password on stdin must be one line', command);
  return text;
}

/** One line read from the terminal in raw mode, echoing nothing; the prompt on stderr, so stdout stays the result. */
function promptHidden(prompt: string): Promise<string> {
  const input = process.stdin;
  // Echo off before the prompt shows: whatever is typed once it is visible must not appear.
  input.setRawMode(true);
  process.stderr.write(prompt);
  input.resume();
  input.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    let typed = '';
    const finish = (outcome: () => void) => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
      outcome();
    };
    const onData = (chunk: string) => {
      for (const character of chunk) {
        if (character === '\r' || character === '\n') return finish(() => resolve(typed));
        if (character === CTRL_C || character === CTRL_D) return finish(() => reject(new UsageError('no password given')));
        typed = BACKSPACE.includes(character) ? [...typed].slice(0, -1).join('') : typed + character;
      }
    };
    input.on('data', onData);
  });
}
