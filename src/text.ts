// C0 and C1 control characters: they hide in terminals, break log lines, and PostgreSQL's
// text cannot hold NUL. Names and user ids that keygate stores may contain none.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

export function hasControlCharacters(text: string): boolean {
  return CONTROL_CHARACTERS.test(text);
}
