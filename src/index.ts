// The keygate library: verify keys in your own Node process, and glue for common servers.
// The MCP glue lives at 'keygate/mcp', so that only its users need @modelcontextprotocol/sdk.
export { createKeyVerifier, type KeygateKeyVerifier, type KeyVerifierOptions } from './library.js';
export { keygateFastify } from './integrations/fastify.js';
export { keygateExpress } from './integrations/express.js';
export type { VerifiesKeys } from './integrations/authenticate-request.js';
export type { Refusal, Verification, VerifiedKey } from './keys/verifier.js';
