// Every request the dashboard makes: same origin only, the session cookie sent by the browser,
// and on unsafe methods the X-CSRF-Token the session answer gave (kept in memory, never stored).

/** A refusal or failure keygate answered, with its `detail` as the message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** From Retry-After, on 429 and 503. */
    readonly retryAfterSeconds: number | undefined,
  ) {
    super(message);
  }
}

/** keygate could not be reached at all: the network is down, or the server is. */
export class NetworkError extends Error {}

let csrfToken: string | undefined;
let onSessionEnded: () => void = () => {};

export function useCsrfToken(token: string | undefined): void {
  csrfToken = token;
}

/** What to do when the API answers 401 to a signed-in page: the session expired or was ended. */
export function whenSessionEnds(handler: () => void): void {
  onSessionEnded = handler;
}

interface ValidationIssue {
  loc?: (string | number)[];
  msg?: string;
}

/** The message of an error answer: `detail` as text, or FastAPI's 422 list as "field: message". */
function detailOf(body: unknown, status: number): string {
  const detail = typeof body === 'object' && body !== null ? (body as { detail?: unknown }).detail : undefined;
  if (typeof detail === 'string') return detail;
  if (Array.isArray(detail)) {
    return (detail as ValidationIssue[])
      .map((issue) => {
        const field = (issue.loc ?? []).filter((part) => part !== 'body' && part !== 'query').join('.');
        return field === '' ? String(issue.msg) : `${field}: ${String(issue.msg)}`;
      })
      .join('; ');
  }
  return `keygate answered ${status}`;
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export interface RequestOptions {
  body?: unknown;
  contentType?: string;
  /** Whether a 401 means the session ended (false for the session endpoints themselves). */
  signedIn?: boolean;
}

export async function request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
  if (UNSAFE.has(method) && csrfToken !== undefined) headers['x-csrf-token'] = csrfToken;
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
  } catch {
    throw new NetworkError('keygate cannot be reached: check your connection, then try again.');
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (response.ok) return body as T;
  if (response.status === 401 && options.signedIn !== false) onSessionEnded();
  const retryAfter = Number(response.headers.get('retry-after'));
  throw new ApiError(response.status, detailOf(body, response.status), Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined);
}

/** A query string of the parameters that have a value. */
export function query(parameters: Record<string, string | undefined>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(parameters)) if (value !== undefined && value !== '') search.set(name, value);
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}
