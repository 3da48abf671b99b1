// A type-level test: it passes by compiling. tests/package.test.ts checks it alone under the
// project's strict tsconfig (the build emits even with type errors, so that is the check).
import express from 'express';
import { keygateExpress, type KeygateKeyVerifier, type VerifiedKey } from '../../src/index.js';

/** true only when A and B are the very same type. */
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

// Optional, as on Fastify's request: it is set only on the routes keygateExpress protects.
export const apiKeyIsTyped: Same<express.Request['apiKey'], VerifiedKey | undefined> = true;

export function typedApp(keys: KeygateKeyVerifier): express.Express {
  const app = express();
  app.get('/whoami', keygateExpress(keys), (req, res) => {
    if (req.apiKey === undefined) throw new Error('keygateExpress admits no request without a key');
    const userId: string = req.apiKey.userId;
    res.json({ userId, keyId: req.apiKey.keyId });
  });
  return app;
}
