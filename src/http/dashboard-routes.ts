import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

// The dashboard (src/web, built into dist/web by npm run build): index.html at `/`, its scripts
// and stylesheet under /assets/. Served from memory, read once at start: the few files are known
// when the server starts, so a map answers them with no file-system lookup per request, no path
// from a URL ever reaches the disk, and there is no dependency to keep up to date for it.

const BUILT_PAGES = fileURLToPath(new URL('../../web/', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/**
 * Everything the page may load comes from keygate itself; no inline script or style, no frame,
 * no form posting elsewhere.
 */
const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

interface Asset {
  body: Buffer;
  contentType: string;
}

/** The built files by their path under dist/web ("app.js", "views/key-page.js"). */
function readBuiltPages(root: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  if (!existsSync(root)) return assets;
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    const contentType = CONTENT_TYPES[extname(entry.name)];
    if (!entry.isFile() || contentType === undefined) continue;
    const path = join(entry.parentPath, entry.name);
    assets.set(relative(root, path).split(sep).join('/'), { body: readFileSync(path), contentType });
  }
  return assets;
}

function send(reply: FastifyReply, asset: Asset): FastifyReply {
  return reply
    .header('content-type', asset.contentType)
    .header('content-security-policy', DASHBOARD_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    // Not hashed names: the browser asks again each time (a small page), never runs an old script.
    .header('cache-control', 'no-cache')
    .send(asset.body);
}

export function dashboardRoutes(root = BUILT_PAGES) {
  return async (app: FastifyInstance): Promise<void> => {
    const assets = readBuiltPages(root);
    const index = assets.get('index.html');
    assets.delete('index.html');

    app.get('/', { schema: { hide: true } }, async (_request, reply) => {
      if (index === undefined) return reply.code(503).send({ detail: 'The dashboard is not built: run npm run build' });
      return send(reply, index);
    });
    app.get<{ Params: { '*': string } }>('/assets/*', { schema: { hide: true } }, async (request, reply) => {
      const asset = assets.get(request.params['*']);
      if (asset === undefined) return reply.code(404).send({ detail: 'No such file' });
      return send(reply, asset);
    });
  };
}
