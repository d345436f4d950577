import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, tempDir } from './helpers/processes';

// An app that ends up with two copies of @baton/core (an adapter pinned to another patch version, a
// bundle): both must drive the one state machine of the process.

const DIST = path.join(ROOT, 'packages', 'core', 'dist');

function copyOfCore(): string {
  const dir = path.join(tempDir(), 'node_modules', '@baton', 'core');
  fs.cpSync(DIST, path.join(dir, 'dist'), { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: '@baton/core', version: '0.0.0-copy', main: './dist/index.js' }),
  );
  return dir;
}

function run(script: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, BATON_LOG: 'silent' },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('a server listened through one copy is seen through the other, and errors made by one are recognised by the other', () => {
  const copy = copyOfCore();
  const result = run(`
    const http = require('node:http');
    const a = require(${JSON.stringify(DIST)});
    const b = require(${JSON.stringify(copy)});
    if (a === b) throw new Error('not two copies');
    const server = a.listen(http.createServer(), 0, '127.0.0.1', () => {
      setImmediate(() => {
        const status = b.status();
        console.log(JSON.stringify({ phase: status.phase, listeners: status.listeners.length }));
        console.log(b.isBatonError(new a.BatonError('ERR_BATON_RETIRING', 'x'), 'ERR_BATON_RETIRING'));
        server.close();
        process.exit(0);
      });
    });
  `);
  expect(result.stderr).toBe('');
  expect(result.stdout.trim().split('\n')).toEqual([JSON.stringify({ phase: 'serving', listeners: 1 }), 'true']);
});

test('a copy whose state machine speaks another protocol stops with one error naming both copies', () => {
  const copy = copyOfCore();
  const result = run(`
    globalThis[Symbol.for('baton.generation')] = { protocol: 999, generation: {}, loadedFrom: '/elsewhere/@baton/core/dist/generation' };
    try { require(${JSON.stringify(copy)}); } catch (error) { console.log(error.code); console.log(error.message); }
  `);
  const [code, message] = result.stdout.trim().split('\n');
  expect(code).toBe('ERR_BATON_UNSUPPORTED');
  expect(message).toMatch(
    /^two incompatible copies of @baton\/core are loaded: \/elsewhere\/@baton\/core\/dist\/generation \(protocol 999\) and .*\/generation \(protocol 1\); install one version/,
  );
});
