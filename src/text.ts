// C0 and C1 control characters: they hide in terminals, break log lines, and PostgreSQL's
// text cannot hold NUL. Names and user ids that keygate stores may contain none.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

export function hasControlCharacters(text: string): boolean {
  return CONTROL_CHARACTERS.test(text);
}

declare global {
  interface String {
    /** ES2024, in Node 20; the ES2022 library this project compiles against does not declare it. */
    isWellFormed(): boolean;
  }
}

/**
 * No lone surrogates. Such text has no UTF-8 form: PostgreSQL would store U+FFFD in their place,
 * so two different names or user ids ("lone\ud800", "lone\udbff") would become one.
 */
export function isWellFormedUnicode(text: string): boolean {
  return text.isWellFormed();
}
