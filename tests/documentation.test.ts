import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, test } from 'node:test';
import { call, keygateForTests } from './support/keygate.js';

// The documents a clone has: what they point to is in the clone (the contract once lived in a
// shared/ folder outside this repository), and the contract they link names the operations the
// running OpenAPI document has.

const ROOT = new URL('../../', import.meta.url).pathname;
const DOCUMENTS = ['README.md', 'docs/CONTRACT.md', 'examples/mcp-server/README.md'];
const committed = new Set(
  spawnSync('git', ['-C', ROOT, 'ls-files'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean),
);
const isGitCheckout = committed.size > 0;

/** Files a document names: relative link targets, and `code` spans that are paths of the repository's folders. */
function namedPaths(document: string): string[] {
  const text = readFileSync(join(ROOT, document), 'utf8');
  const links = [...text.matchAll(/\]\(([^)\s#]+)(?:#[^)]*)?\)/g)].map((match) => match[1]!).filter((target) => !/^[a-z]+:/.test(target));
  const spans = [...text.matchAll(/`((?:\.\/)?(?:src|tests|docs|examples|bench|shared|\.ci)\/[\w./-]+)`/g)].map((match) => match[1]!);
  return [...links.map((link) => normalize(join(dirname(document), link))), ...spans.map((span) => normalize(span))];
}

describe('the documentation', () => {
  test('the README links the contract in docs/, and no document mentions a shared/ folder', () => {
    assert.match(readFileSync(join(ROOT, 'README.md'), 'utf8'), /\[docs\/CONTRACT\.md\]\(docs\/CONTRACT\.md\)/);
    for (const document of DOCUMENTS) assert.ok(!readFileSync(join(ROOT, document), 'utf8').includes('shared/'), document);
  });

  test('every file a document links or names is committed to this repository', { skip: !isGitCheckout && 'not a git checkout' }, () => {
    for (const document of DOCUMENTS) {
      for (const path of namedPaths(document)) {
        const inRepository = committed.has(path) || [...committed].some((file) => file.startsWith(`${path.replace(/\/$/, '')}/`));
        assert.ok(inRepository, `${document} names ${path}, which is not in the repository`);
      }
    }
  });

  describe("the contract's four endpoints", () => {
    const keygate = keygateForTests();
    test('are the operations of the OpenAPI document, each at its method and path', async () => {
      const contract = readFileSync(join(ROOT, 'docs', 'CONTRACT.md'), 'utf8');
      const rows = [...contract.matchAll(/^\| `(\w+)` \| `(GET|POST|DELETE) (\/\S+)` \|/gm)];
      assert.equal(rows.length, 4, 'the table of the four endpoints');
      const document = (await call(keygate.baseUrl, 'GET', '/openapi.json')).body;
      for (const [, operationId, method, path] of rows) {
        assert.equal(document.paths[path!]?.[method!.toLowerCase()]?.operationId, operationId, `${method} ${path}`);
      }
    });
  });
});
