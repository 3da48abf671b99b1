import { randomBytes } from 'node:crypto';
import { Algorithm, hash, verify } from '@node-rs/argon2';
import { InvalidInput } from '../errors.js';

// What a local account signs in with: the rules of a username and a password, and the password's
// argon2id hash. Never the password in an error: the messages name the rule, not the value.

export const USERNAME_MAX_LENGTH = 64;
/**
 * ASCII letters and digits, then also . _ @ -: a username is a user_id too (in tokens, the
 * audit trail, the CLI's tables), and ASCII keeps "unique case-insensitively" the same in
 * JavaScript, SQLite and PostgreSQL.
 */
const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@-]*$/;

export const PASSWORD_MIN_CHARACTERS = 12;
/** argon2 reads any length; a bound keeps a sign-in from hashing megabytes. */
export const PASSWORD_MAX_BYTES = 1024;

/** Whether `value` may be a username at all: text that is not can name no account. */
export function isUsername(value: string): boolean {
  return value.length > 0 && value.length <= USERNAME_MAX_LENGTH && USERNAME.test(value);
}

/** The username, checked; `field` names it in the error (username, or the CLI's argument). */
export function validUsername(value: string, field = 'username'): string {
  if (!isUsername(value)) {
    throw new InvalidInput(
      field,
      `A username is 1 to ${USERNAME_MAX_LENGTH} ASCII letters, digits, '.', '_', '@' or '-', starting with a letter or digit`,
      'string_pattern_mismatch',
    );
  }
  return value;
}

/** The form usernames are compared in: case-insensitively, as the unique index compares them. */
export function usernameKey(username: string): string {
  return username.toLowerCase();
}

/** Whether a password is within the bounds keygate will hash at all (sign-in checks only this). */
export function checkPasswordSize(password: string, field = 'password'): void {
  if (Buffer.byteLength(password) > PASSWORD_MAX_BYTES) {
    throw new InvalidInput(field, `A password is at most ${PASSWORD_MAX_BYTES} bytes (UTF-8)`, 'string_too_long');
  }
}

/** A password a new account (or a changed password) may have. */
export function checkNewPassword(password: string, field = 'password'): void {
  checkPasswordSize(password, field);
  // Characters as a person counts them (code points), not UTF-16 units.
  if ([...password].length < PASSWORD_MIN_CHARACTERS) {
    throw new InvalidInput(field, `A password is at least ${PASSWORD_MIN_CHARACTERS} characters`, 'string_too_short');
  }
}

// argon2id with the library's defaults (19 MiB, 2 passes, 1 lane: OWASP's first recommendation).
const ARGON2 = { algorithm: Algorithm.Argon2id } as const;

export function hashPassword(password: string): Promise<string> {
  return hash(password, ARGON2);
}

/**
 * Checks passwords against stored hashes, and against a dummy hash when there is no account:
 * an unknown username then takes the same work as a wrong password, so timing tells nothing.
 */
export class PasswordChecker {
  private dummy: Promise<string> | undefined;

  async matches(storedHash: string | undefined, password: string): Promise<boolean> {
    if (storedHash !== undefined) return verify(storedHash, password);
    // Made on first need, with the same parameters as real hashes, and kept.
    this.dummy ??= hashPassword(randomBytes(16).toString('base64url'));
    await verify(await this.dummy, password);
    return false;
  }
}
