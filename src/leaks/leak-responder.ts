import type { Actor, RequestOrigin } from '../audit/actor.js';
import type { LeakAction } from '../config.js';
import { NotFound } from '../errors.js';
import type { ApiKeyService } from '../keys/api-key-service.js';
import type { KeyVerifier } from '../keys/verifier.js';
import type { LeakedToken } from './report.js';

// What a verified leak report does: every token that is a keygate key's secret (the current one,
// or during a grace the previous one; whatever the key's status or expiry, as self-revoke checks
// it) gets its key revoked, or disabled, as KEYGATE_LEAK_ACTION says; the answer labels each
// token as GitHub expects. A token is never kept, logged or audited: the audit event names the
// key by its key_id, and the report by where the token was found.

export type LeakLabel = 'true_positive' | 'false_positive';

/** Who the audit trail names as the actor: the reporter whose published keys verify reports. */
const REPORTER = 'github';
/** How much of each reported field the audit trail keeps: enough to find the leak, not a place to store text. */
const AUDITED_URL_MAX_LENGTH = 2048;
const AUDITED_FIELD_MAX_LENGTH = 100;

export class LeakResponder {
  constructor(
    private readonly verifier: Pick<KeyVerifier, 'secretHolder'>,
    private readonly service: Pick<ApiKeyService, 'revoke' | 'setStatus'>,
    private readonly action: LeakAction,
  ) {}

  /**
   * Acts on each key the report's tokens prove, once, however many of its tokens the report
   * names (twice the same, or both secrets of a grace); the labels are in the report's order.
   * Every token is judged before any key is acted on, so that a key's second secret in the
   * report is a true positive too.
   */
  async respond(report: readonly LeakedToken[], origin: RequestOrigin): Promise<LeakLabel[]> {
    const holders = new Map<string, string | undefined>();
    for (const { token } of report) {
      if (!holders.has(token)) holders.set(token, (await this.verifier.secretHolder(token))?.keyId);
    }
    const actedOn = new Set<string>();
    for (const leak of report) {
      const keyId = holders.get(leak.token);
      if (keyId === undefined || actedOn.has(keyId)) continue;
      actedOn.add(keyId);
      await this.act(keyId, reporterActor(leak, origin));
    }
    return report.map(({ token }) => (holders.get(token) === undefined ? 'false_positive' : 'true_positive'));
  }

  private async act(keyId: string, actor: Actor): Promise<void> {
    if (this.action === 'revoke') {
      await this.service.revoke(actor, keyId);
      return;
    }
    // A key revoked since it was judged is harmless already (revoke, above, says nothing of it either).
    await this.service.setStatus(actor, keyId, 'disabled').catch((error: unknown) => {
      if (!(error instanceof NotFound)) throw error;
    });
  }
}

/** The reporter, with where the token was found for every event its change records. */
function reporterActor(leak: LeakedToken, origin: RequestOrigin): Actor {
  const leaked = {
    url: leak.url.slice(0, AUDITED_URL_MAX_LENGTH),
    source: leak.source.slice(0, AUDITED_FIELD_MAX_LENGTH),
    type: leak.type.slice(0, AUDITED_FIELD_MAX_LENGTH),
  };
  return { type: 'leak_report', id: REPORTER, origin, detail: { leak: leaked } };
}
