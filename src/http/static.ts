import { readFile } from 'node:fs/promises';
import { extname, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

/**
 * The UI's files stay in src/http/ui/ and are read from there at run time (like the store's
 * migrations): this file compiles to dist/http/, two levels below the package root as
 * src/http/ is, so one relative path serves both, with no bundler.
 */
export const UI_DIR = fileURLToPath(new URL('../../src/http/ui/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
};

/** Everything the UI needs comes from this node: no CDN, and a policy that forbids any other origin. */
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

export function registerUi(app: FastifyInstance): void {
  app.get('/', async (_req, reply) => {
    const html = await readFile(`${UI_DIR}index.html`);
    return reply.type(TYPES['.html']!).header('content-security-policy', CSP).header('cache-control', 'no-cache').send(html);
  });
  app.get('/ui/*', async (req, reply) => {
    const rel = normalize((req.params as { '*': string })['*']);
    const type = TYPES[extname(rel)];
    // normalize() folds `..`; anything still climbing out, absolute, or of an unknown type is not a UI file.
    if (!type || rel.startsWith('..') || rel.startsWith(sep) || rel.includes('\0')) {
      return reply.code(404).send({ code: 'CF_ERR_NOT_FOUND', message: `no UI file "${rel}"`, field: 'path' });
    }
    try {
      const body = await readFile(UI_DIR + rel);
      return reply.type(type).header('cache-control', 'no-cache').header('content-security-policy', CSP).send(body);
    } catch {
      return reply.code(404).send({ code: 'CF_ERR_NOT_FOUND', message: `no UI file "${rel}"`, field: 'path' });
    }
  });
}
