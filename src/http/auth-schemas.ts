import { PASSWORD_MAX_BYTES, PASSWORD_MIN_CHARACTERS, USERNAME_MAX_LENGTH } from '../accounts/credentials.js';
import { USER_ID_MAX_LENGTH } from '../text.js';
import { errorAnswer } from './schemas.js';

// What the /auth routes take and answer, as validated and as the OpenAPI document shows them.

export const AUTH_TAGS = ['Auth'];

export const VALIDATION_ERROR = { description: 'Validation Error: a missing or malformed field, a password over the bounds', $ref: 'HTTPValidationError#' };
export const TOO_MANY_SIGN_INS = errorAnswer('Too many sign-in attempts for this account or from this address (with Retry-After)');
export const LOCAL_ACCOUNTS_OFF = errorAnswer('Local accounts are off (OIDC mode), or, for sign-up, sign-up is not open');

/**
 * A username and a password. The schema bounds the sizes (characters); the password's byte bound
 * and, for new accounts, the rules are the domain's (src/accounts/credentials.ts), which answer 422 too.
 */
export function credentialsBody(title: string, passwordDescription: string) {
  return {
    type: 'object',
    title,
    required: ['username', 'password'],
    properties: {
      // Sign-in takes any name up to a user id's length (an unknown one is a 401); new accounts follow the username rule.
      username: { type: 'string', title: 'Username', minLength: 1, maxLength: USER_ID_MAX_LENGTH },
      password: { type: 'string', title: 'Password', minLength: 1, maxLength: PASSWORD_MAX_BYTES, description: passwordDescription },
    },
  } as const;
}

export const NEW_PASSWORD_RULE = `At least ${PASSWORD_MIN_CHARACTERS} characters, at most ${PASSWORD_MAX_BYTES} bytes (UTF-8).`;
export const USERNAME_RULE = `1 to ${USERNAME_MAX_LENGTH} ASCII letters, digits, '.', '_', '@' or '-', starting with a letter or digit; unique case-insensitively.`;

export const SESSION_RESPONSE = {
  type: 'object',
  title: 'SessionResponse',
  required: ['user_id', 'username', 'admin', 'scopes', 'csrf_token', 'expires_at'],
  properties: {
    user_id: { type: 'string' },
    username: { type: 'string' },
    admin: { type: 'boolean' },
    scopes: { type: 'array', items: { type: 'string' } },
    csrf_token: { type: 'string', description: 'Send it as X-CSRF-Token with every POST, PUT, PATCH and DELETE made with the session cookie.' },
    expires_at: { type: 'string', format: 'date-time', description: 'When the session ends, whatever happens meanwhile (an absolute lifetime).' },
  },
} as const;

export const AUTH_CONFIG_RESPONSE = {
  type: 'object',
  title: 'AuthConfigResponse',
  required: ['local_accounts', 'signup', 'oidc'],
  properties: {
    local_accounts: { type: 'boolean', description: 'Sign-in with a username and password (POST /auth/session, /auth/login).' },
    signup: { type: 'boolean', description: 'Anyone may make an account (POST /auth/signup).' },
    oidc: { type: 'boolean', description: 'Sign-in through the OpenID provider (GET /auth/oidc/start).' },
  },
} as const;

export const sessionErrors = {
  401: errorAnswer('No session: no session cookie, or one that has ended or expired'),
  403: errorAnswer('A cross-origin sign-in (Origin header), or, for DELETE, a missing or wrong X-CSRF-Token'),
};
