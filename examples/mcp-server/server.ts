// An MCP server over Streamable HTTP that admits only requests with a valid keygate key.
// Run it next to a keygate server, on the same database:
//   DATABASE_URL=sqlite:./data/keygate.db PORT=3000 node dist/examples/mcp-server/server.js
// Outside this repository the two keygate imports read 'keygate' and 'keygate/mcp'.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { Request, Response } from 'express';
import { createKeyVerifier, type VerifiesKeys } from '../../src/index.js';
import { keygateBearerAuth } from '../../src/integrations/mcp.js';

export interface McpServerOptions {
  /** keygate's database; default: DATABASE_URL, else sqlite:./data/keygate.db (as keygate's). */
  databaseUrl?: string;
  /** default 3000; 0 picks a free port. */
  port?: number;
  /** default 127.0.0.1. */
  host?: string;
}

export interface RunningMcpServer {
  /** The MCP endpoint, e.g. http://127.0.0.1:3000/mcp. */
  url: string;
  close(): Promise<void>;
}

/** The MCP server itself: its tools, knowing nothing of HTTP or keys beyond `extra.authInfo`. */
function buildMcpServer(): McpServer {
  const server = new McpServer({ name: 'keygate-example', version: '1.0.0' });
  server.registerTool(
    'whoami',
    { description: 'Names the user and the key_id of the API key this request was made with.' },
    (extra) => {
      // Set by keygateBearerAuth (through the SDK's requireBearerAuth) on req.auth; the transport passes it on.
      const owner = extra.authInfo?.extra ?? {};
      const answer = { user_id: owner.userId, key_id: owner.keyId, key_name: owner.name };
      return { content: [{ type: 'text', text: JSON.stringify(answer) }] };
    },
  );
  return server;
}

/** The Express app: /mcp behind keygateBearerAuth, answered statelessly. */
export function createMcpApp(keys: VerifiesKeys, host: string) {
  // createMcpExpressApp parses JSON bodies and, on a loopback host, refuses foreign Host headers
  // (DNS rebinding protection).
  const app = createMcpExpressApp({ host });
  // The SDK's requireBearerAuth, plus a 503 with Retry-After when keygate cannot verify now.
  const auth = keygateBearerAuth(keys);

  // Stateless: a fresh server and transport for every POST, so that any number of instances can
  // serve the same clients, and every request is checked against the key as it is right now.
  app.post('/mcp', auth, async (req: Request, res: Response) => {
    const server = buildMcpServer();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    try {
      await server.connect(transport);
      await transport.handleRequest(req, res, req.body);
    } catch (error) {
      console.error('MCP request failed:', error);
      if (!res.headersSent) {
        res.status(500).json({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal server error' }, id: null });
      }
    }
  });

  // Without sessions there is no stream to open (GET) or session to end (DELETE). They still
  // pass keygateBearerAuth first: without a valid key the answer is 401, not a hint about /mcp.
  const methodNotAllowed = (_req: Request, res: Response) => {
    res.status(405).set('Allow', 'POST').json({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null });
  };
  app.get('/mcp', auth, methodNotAllowed);
  app.delete('/mcp', auth, methodNotAllowed);
  return app;
}

export async function startMcpServer(options: McpServerOptions = {}): Promise<RunningMcpServer> {
  const host = options.host ?? '127.0.0.1';
  const keys = await createKeyVerifier(options.databaseUrl === undefined ? { fromEnvironment: true } : { databaseUrl: options.databaseUrl });
  const listener = createMcpApp(keys, host).listen(options.port ?? 3000, host);
  try {
    await once(listener, 'listening');
  } catch (error) {
    await keys.close();
    throw error;
  }
  const { port } = listener.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/mcp`,
    async close() {
      const closed = new Promise<void>((resolve, reject) => listener.close((error) => (error ? reject(error) : resolve())));
      listener.closeAllConnections();
      await closed;
      await keys.close();
    },
  };
}

/** A port in use is the usual failure to start: one line saying what to do; anything else prints its stack. */
function startFailureLine(error: unknown): string | undefined {
  const { code, address, port } = error as { code?: unknown; address?: unknown; port?: unknown };
  if (code !== 'EADDRINUSE') return undefined;
  return `mcp-server: PORT ${port}: ${address}:${port} is already in use; stop what listens there, or set PORT to a free port (0: any)`;
}

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a port number, got "${process.env.PORT}"`);
  const running = await startMcpServer({ databaseUrl: process.env.DATABASE_URL, port, host: process.env.HOST });
  console.log(`MCP server listening at ${running.url}`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void running.close().then(() => process.exit(0)));
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(startFailureLine(error) ?? error);
    process.exit(1);
  });
}
