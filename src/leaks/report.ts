import { InvalidInput } from '../errors.js';

// A leak report's body, in GitHub's secret scanning partner format: a JSON array of the tokens
// found, each with its type (the pattern that matched), the URL where it was found, and the
// kind of place that is (content, commit, pull_request, gist, npm, ...):
//   [{"token": "...", "type": "keygate_api_key", "url": "https://github.com/...", "source": "content"}]
// Read only once its signature is checked, so that only the reporter learns what is wrong with it.

export interface LeakedToken {
  token: string;
  type: string;
  url: string;
  source: string;
}

/** The most tokens one report may name: each is looked up, and a real key is hashed to compare. */
export const MAX_REPORT_TOKENS = 1000;

const FIELDS = ['token', 'type', 'url', 'source'] as const;

/** The report's tokens, in order; throws InvalidInput naming the first thing wrong (never a token). */
export function parseLeakReport(body: Buffer): LeakedToken[] {
  let report: unknown;
  try {
    report = JSON.parse(body.toString('utf8'));
  } catch {
    throw new InvalidInput([], 'JSON decode error: the body is not valid JSON', 'json_invalid');
  }
  if (!Array.isArray(report)) {
    throw new InvalidInput([], 'Input should be a valid list: a leak report is a JSON array of {token, type, url, source}', 'list_type');
  }
  if (report.length > MAX_REPORT_TOKENS) {
    throw new InvalidInput([], `List should have at most ${MAX_REPORT_TOKENS} items: send a longer report in several`, 'too_long');
  }
  return report.map((entry: unknown, index) => {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new InvalidInput([index], 'Input should be a valid dictionary or object', 'dict_type');
    }
    // Only these four are read: whatever else an entry holds (a __proto__ member too) is never touched.
    const fields = entry as Record<string, unknown>;
    for (const field of FIELDS) {
      if (!Object.hasOwn(fields, field)) throw new InvalidInput([index, field], 'Field required', 'missing');
      if (typeof fields[field] !== 'string') throw new InvalidInput([index, field], 'Input should be a valid string', 'string_type');
    }
    return { token: fields.token as string, type: fields.type as string, url: fields.url as string, source: fields.source as string };
  });
}
