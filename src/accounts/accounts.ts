import { Conflict, NotFound } from '../errors.js';
import type { UserRow, UsersRepository } from '../store/users-repository.js';
import { checkNewPassword, checkPasswordSize, hashPassword, isUsername, PasswordChecker, usernameKey, validUsername } from './credentials.js';

// Local accounts: made by the operator (`keygate users add`) or, when sign-up is open, by
// anyone; a user_id that is the username, so that an account and the keys a token for the same
// name made are one user's.

export interface Account {
  userId: string;
  username: string;
  admin: boolean;
  createdAt: string;
  /** When the password was last set (ms since the epoch): tokens issued before it are not refreshed. */
  credentialsChangedAtMs: number;
}

/** The scopes an account's sign-in carries: what makes it an admin, and what every caller must have. */
export interface AccountScopes {
  adminScope: string;
  requiredScope: string | undefined;
}

function accountOf(row: UserRow): Account {
  const { userId, username, admin, createdAt, credentialsChangedAtMs } = row;
  return { userId, username, admin, createdAt, credentialsChangedAtMs };
}

export class Accounts {
  private readonly passwords = new PasswordChecker();

  constructor(
    private readonly repository: UsersRepository,
    private readonly scopes: AccountScopes,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new account; Conflict when the username is taken (in any case). */
  async add(username: string, password: string, options: { admin: boolean }): Promise<Account> {
    validUsername(username);
    checkNewPassword(password);
    const now = this.now();
    const row: UserRow = {
      userId: username,
      username,
      passwordHash: await hashPassword(password),
      admin: options.admin,
      createdAt: new Date(now).toISOString(),
      credentialsChangedAtMs: now,
    };
    if (!(await this.repository.insert(row))) throw new Conflict(`The username "${username}" is taken`);
    return accountOf(row);
  }

  async list(): Promise<Account[]> {
    return (await this.repository.list()).map(accountOf);
  }

  async count(): Promise<number> {
    return this.repository.count();
  }

  /** The account of that username (in any case). */
  async find(username: string): Promise<Account | undefined> {
    const row = await this.row(username);
    return row === undefined ? undefined : accountOf(row);
  }

  /**
   * Deletes the account and ends its sign-ins (sessions, refresh tokens) with it; the keys it
   * holds stay its user's. NotFound when there is none.
   */
  async remove(username: string): Promise<Account> {
    const account = await this.existing(username);
    if (!(await this.repository.delete(account.userId))) throw this.notFound(username);
    return account;
  }

  /** A new password, and every sign-in made with the old one ended. */
  async setPassword(username: string, password: string): Promise<Account> {
    checkNewPassword(password);
    const account = await this.existing(username);
    const changedAtMs = this.now();
    if (!(await this.repository.setPassword(account.userId, await hashPassword(password), changedAtMs))) throw this.notFound(username);
    return { ...account, credentialsChangedAtMs: changedAtMs };
  }

  /**
   * The account these credentials name, or undefined: an unknown username and a wrong password
   * alike, after the same work (a dummy hash stands in for a missing account).
   */
  async signIn(username: string, password: string): Promise<Account | undefined> {
    checkPasswordSize(password);
    const row = await this.row(username);
    const matches = await this.passwords.matches(row?.passwordHash, password);
    return row !== undefined && matches ? accountOf(row) : undefined;
  }

  /**
   * Whether the account is still as it was signed in: not removed, its password not changed.
   * Asked after a sign-in has stored what it hands out: a removal or password change that
   * committed meanwhile ended the sign-ins it could see, but not one stored after it.
   */
  async isCurrent(account: Account): Promise<boolean> {
    const now = await this.find(account.username);
    return now !== undefined && now.userId === account.userId && now.credentialsChangedAtMs === account.credentialsChangedAtMs;
  }

  /** The scopes a sign-in of this account carries, fixed when it signs in. */
  scopesOf(account: Account): string[] {
    const { adminScope, requiredScope } = this.scopes;
    return [...(requiredScope === undefined ? [] : [requiredScope]), ...(account.admin ? [adminScope] : [])];
  }

  /**
   * The row of that username; none, without asking the database, for text that can be no
   * username (a NUL, which PostgreSQL's text refuses, among it).
   */
  private row(username: string): Promise<UserRow | undefined> {
    return isUsername(username) ? this.repository.findByKey(usernameKey(username)) : Promise.resolve(undefined);
  }

  private async existing(username: string): Promise<Account> {
    const account = await this.find(username);
    if (account === undefined) throw this.notFound(username);
    return account;
  }

  private notFound(username: string): NotFound {
    return new NotFound(`No account is named "${username}"`);
  }
}
