import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as util from 'node:util';
import * as zlib from 'node:zlib';
import ts from 'typescript';
import { call, CLI_SCRIPT, onPostgres, spawnKeygate } from './support/keygate.js';

// The package as a user gets it: the files `npm pack` ships, the types they reach through
// `exports`, and the Node versions `engines` admits.

const ROOT = new URL('../../', import.meta.url).pathname;
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

function run(command: string, args: string[], cwd: string): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8' });
  assert.equal(result.status, 0, `${command} ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

/** `npm pack`'s report; --ignore-scripts: the files of the build at hand (npm test has just built). */
function pack(extra: string[] = []): { filename: string; files: { path: string }[] } {
  return JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', ...extra], ROOT))[0];
}

/** The type errors of `files` (and only theirs) in a program of `options`. */
function typeErrors(files: string[], options: ts.CompilerOptions): string[] {
  const program = ts.createProgram({ rootNames: files, options: { ...options, noEmit: true } });
  return files.flatMap((file) => {
    const source = program.getSourceFile(file);
    if (source === undefined) return [`${file} is not in the program`];
    return [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)].map(
      (diagnostic) => `${file}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`,
    );
  });
}

describe('npm pack', () => {
  test('ships the built library, its declarations, the built dashboard and the README: no tests, bench, examples or sources', () => {
    const paths = pack(['--dry-run']).files.map((file) => file.path);
    const stray = paths.filter((path) => !/^(package\.json|README\.md|LICENSE|dist\/src\/.+\.(js|d\.ts)|dist\/web\/.+\.(js|css|html))$/.test(path));
    assert.deepEqual(stray, []);
    assert.ok(paths.includes('dist/web/index.html'), 'the dashboard is shipped: an installed keygate serves it');
    for (const path of paths.filter((candidate) => candidate.startsWith('dist/src/') && candidate.endsWith('.js'))) {
      assert.ok(paths.includes(path.replace(/\.js$/, '.d.ts')), `${path} has its declarations`);
    }
    const targets = [manifest.bin.keygate, manifest.types, ...Object.values<Record<string, string>>(manifest.exports).flatMap(Object.values)];
    for (const target of targets) assert.ok(paths.includes(target.replace(/^\.\//, '')), `${target} is shipped`);
    for (const entry of ['.', './mcp']) assert.match(manifest.exports[entry].types, /\.d\.ts$/, `${entry} names its types`);
  });

  describe('installed as a user installs it', () => {
    // Under dist/, so that the packed keygate's own dependencies resolve to this clone's
    // node_modules, as they would to the user's; the package.json makes it a project of its own.
    let project: string;
    before(() => {
      project = mkdtempSync(join(ROOT, 'dist', 'packed-'));
      const { filename } = pack(['--pack-destination', project]);
      mkdirSync(join(project, 'node_modules', 'keygate'), { recursive: true });
      run('tar', ['-xzf', join(project, filename), '-C', join(project, 'node_modules', 'keygate'), '--strip-components=1'], project);
      writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'host-app', private: true, type: 'module' }));
    });
    after(() => rmSync(project, { recursive: true, force: true }));

    test("'keygate' and 'keygate/mcp' load from the packed files alone", () => {
      const script = "const k = await import('keygate'); const m = await import('keygate/mcp');" +
        'console.log([k.createKeyVerifier, k.keygateExpress, k.keygateFastify, m.keygateBearerAuth].map((f) => typeof f).join())';
      assert.equal(run(process.execPath, ['--input-type=module', '-e', script], project).trim(), 'function,function,function,function');
    });

    test('the packed server serves the dashboard and /docs, and the packed CLI (its bin) mints a token it accepts', { skip: onPostgres && 'the default database of the installing folder: covered by the SQLite pass' }, async () => {
      const installed = join(project, 'node_modules', 'keygate');
      const server = await spawnKeygate({}, project, { script: join(installed, 'dist', 'src', 'main.js') });
      try {
        assert.match(await (await fetch(`${server.baseUrl}/`)).text(), /<script type="module" src="\/assets\/app.js">/, 'the dashboard page');
        assert.equal((await fetch(`${server.baseUrl}/assets/app.js`)).status, 200, 'and its script');
        assert.equal((await fetch(`${server.baseUrl}/docs`)).status, 200);
        const cli = join(installed, manifest.bin.keygate);
        assert.equal(run(process.execPath, [cli, '--version'], project).trim(), manifest.version);
        const token = run(process.execPath, [cli, 'token', '--user', 'alice'], project).trim();
        assert.equal((await call(server.baseUrl, 'GET', '/api/v1/api-keys/', { token })).status, 200);
      } finally {
        await server.stop();
      }
    });

    test('their types resolve through exports and type req.apiKey in Express and Fastify, under strict TypeScript', () => {
      const consumer = join(project, 'consumer.ts');
      writeFileSync(
        consumer,
        `import express from 'express';
import Fastify from 'fastify';
import { createKeyVerifier, keygateExpress, keygateFastify, type VerifiedKey } from 'keygate';
import { keygateBearerAuth } from 'keygate/mcp';

export async function main(): Promise<void> {
  const keys = await createKeyVerifier({ databaseUrl: 'sqlite:./data/keygate.db' });
  const app = express();
  app.get('/data', keygateExpress(keys), (req, res) => {
    const key: VerifiedKey | undefined = req.apiKey;
    res.json({ userId: req.apiKey?.userId, key });
  });
  app.post('/mcp', keygateBearerAuth(keys));
  const fastify = Fastify();
  fastify.get('/data', { preHandler: keygateFastify(keys) }, async (request) => request.apiKey?.userId);
  await createKeyVerifier({ fromEnvironment: true });
  // @ts-expect-error the database is given, or fromEnvironment is asked for
  await createKeyVerifier({});
}
`,
      );
      const declarations = pack(['--dry-run']).files
        .map((file) => file.path)
        .filter((path) => path.endsWith('.d.ts'))
        .map((path) => join(project, 'node_modules', 'keygate', path));
      const options: ts.CompilerOptions = {
        strict: true,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        target: ts.ScriptTarget.ES2022,
        esModuleInterop: true,
        skipLibCheck: false,
        types: ['node'],
      };
      assert.deepEqual(typeErrors([consumer, ...declarations], options), []);
    });
  });
});

test('npm start starts the built server and builds nothing: npm ci builds once, through prepare', () => {
  assert.equal(manifest.scripts.start, 'node dist/src/main.js');
  for (const hook of ['prestart', 'poststart']) assert.equal(manifest.scripts[hook], undefined, hook);
  assert.equal(manifest.scripts.prepare, 'npm run build');
});

test('tests/types/express-types.ts compiles under the project strict tsconfig', () => {
  const { config } = ts.readConfigFile(join(ROOT, 'tsconfig.json'), ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(config, ts.sys, ROOT);
  assert.deepEqual(typeErrors([join(ROOT, 'tests', 'types', 'express-types.ts')], options), []);
});

/**
 * Node APIs keygate's code and its dependencies use that are younger than Node 20.0, with the
 * first release of each line that has them (a line not listed, below the newest listed, lacks
 * them: 21 has no crc32).
 */
const NODE_APIS: { api: string; since: string[]; present: () => boolean }[] = [
  // @fastify/static (under /docs) require()s content-disposition@3, an ES module: without this
  // the server stops at start with ERR_REQUIRE_ESM.
  { api: 'require() of an ES module', since: ['20.19.0', '22.12.0'], present: () => process.features.require_module === true },
  { api: 'zlib.crc32', since: ['20.15.0', '22.2.0'], present: () => typeof zlib.crc32 === 'function' },
  { api: 'crypto.hash', since: ['20.12.0', '21.7.0'], present: () => typeof crypto.hash === 'function' },
  { api: 'String.prototype.isWellFormed', since: ['20.0.0'], present: () => typeof ''.isWellFormed === 'function' },
  { api: 'URL.canParse', since: ['18.17.0', '19.9.0'], present: () => typeof URL.canParse === 'function' },
  { api: 'util.parseArgs', since: ['16.17.0', '18.3.0'], present: () => typeof util.parseArgs === 'function' },
  { api: 'AbortSignal.timeout', since: ['16.14.0', '17.3.0'], present: () => typeof AbortSignal.timeout === 'function' },
  { api: 'fetch', since: ['18.0.0'], present: () => typeof fetch === 'function' },
  { api: 'http.Server#closeAllConnections', since: ['18.2.0'], present: () => typeof Server.prototype.closeAllConnections === 'function' },
];

type Version = [number, number, number];
const parse = (text: string): Version => {
  const match = /^(\d+)\.(\d+)\.(\d+)$/.exec(text);
  assert.ok(match, `not a version: ${text}`);
  return [Number(match[1]), Number(match[2]), Number(match[3])];
};
const atLeast = (a: Version, b: Version): boolean => a[0] !== b[0] ? a[0] > b[0] : a[1] !== b[1] ? a[1] > b[1] : a[2] >= b[2];

function availableIn(version: Version, since: string[]): boolean {
  const lines = since.map(parse);
  const sameLine = lines.find((first) => first[0] === version[0]);
  if (sameLine !== undefined) return atLeast(version, sameLine);
  return version[0] > Math.max(...lines.map((first) => first[0]));
}

describe('engines', () => {
  test('every Node version engines admits has every listed API (checked at each range start and each later line)', () => {
    const newestListed = Math.max(...NODE_APIS.flatMap(({ since }) => since.map((first) => parse(first)[0])));
    for (const range of String(manifest.engines.node).split('||').map((part) => part.trim())) {
      const match = /^(\^|>=)(\d+\.\d+\.\d+)$/.exec(range);
      assert.ok(match, `engines range "${range}" is of a form this test reads (^x.y.z or >=x.y.z)`);
      const low = parse(match[2]!);
      const starts: Version[] = [low];
      if (match[1] === '>=') for (let line = low[0] + 1; line <= newestListed + 1; line++) starts.push([line, 0, 0]);
      for (const start of starts) {
        for (const { api, since } of NODE_APIS) assert.ok(availableIn(start, since), `${api} is missing in Node ${start.join('.')}`);
      }
    }
  });

  test('this Node has every listed API', () => {
    for (const { api, present } of NODE_APIS) assert.ok(present(), api);
  });

  test('the README states the same minimum', () => {
    assert.match(readFileSync(join(ROOT, 'README.md'), 'utf8'), /Node\.js 20\.19 or newer \(on 22, 22\.12 or newer\)/);
  });

  // The list above is kept by hand and a dependency can need more than it says: the lowest
  // release engines admits on this Node's line (the one node_modules' native addons are built
  // for) runs the server for real. It comes from the npm registry as node-<platform>-<arch>.
  const thisLine = Number(process.versions.node.split('.')[0]);
  const lowest = String(manifest.engines.node)
    .split('||')
    .map((range) => /^\s*(?:\^|>=)(\d+)\.(\d+\.\d+)\s*$/.exec(range))
    .find((match) => Number(match?.[1]) === thisLine);
  test(
    `the lowest Node engines admits on this line (${lowest ? `${lowest[1]}.${lowest[2]}` : 'none'}) starts the server, serves /docs and runs the CLI`,
    {
      skip: onPostgres ? 'about Node, not the database: covered by the SQLite pass' : lowest === undefined && `engines admits no release of Node ${thisLine}, this Node's line`,
      timeout: 300_000,
    },
    async () => {
      const version = `${lowest![1]}.${lowest![2]}`;
      const folder = mkdtempSync(join(tmpdir(), 'keygate-lowest-node-'));
      try {
        const { filename } = JSON.parse(run('npm', ['pack', '--json', `node-${process.platform}-${process.arch}@${version}`], folder))[0];
        run('tar', ['-xzf', filename], folder);
        const node = join(folder, 'package', 'bin', 'node');
        assert.equal(run(node, ['--version'], folder).trim(), `v${version}`);
        const server = await spawnKeygate({}, folder, { node });
        try {
          assert.equal((await call(server.baseUrl, 'GET', '/healthz')).status, 200);
          assert.equal((await fetch(`${server.baseUrl}/docs`)).status, 200, 'the docs page, served by @fastify/swagger-ui');
          const token = run(node, [CLI_SCRIPT, 'token', '--user', 'alice'], folder).trim();
          assert.equal((await call(server.baseUrl, 'GET', '/api/v1/api-keys/', { token })).status, 200);
        } finally {
          await server.stop();
        }
      } finally {
        rmSync(folder, { recursive: true, force: true });
      }
    },
  );
});
