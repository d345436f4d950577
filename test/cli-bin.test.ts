// After `npm i @baton/express` (or @baton/koa) in a fresh npm project, `npx baton` works: each
// adapter carries a `baton` bin that loads @baton/core's CLI. Packs the workspace packages as
// npm would publish them and installs them from the tarballs (express/koa/commander from the registry).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, tempDir } from './helpers/processes';

jest.setTimeout(180_000);

const PNPM = ['-y', 'pnpm@10.34.9'];

function run(file: string, args: string[], cwd: string): string {
  return execFileSync(file, args, {
    cwd,
    encoding: 'utf8',
    timeout: 150_000,
    env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' },
  });
}

let packs: string;
const made: string[] = [];
afterAll(() => {
  for (const dir of [packs, ...made]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
});
beforeAll(() => {
  packs = tempDir('baton-packs-');
  for (const name of ['core', 'express', 'koa'])
    run('npx', [...PNPM, 'pack', '--pack-destination', packs], path.join(ROOT, 'packages', name));
});

describe.each([
  ['@baton/express', 'express', 'baton-express-0.1.0.tgz'],
  ['@baton/koa', 'koa', 'baton-koa-0.1.0.tgz'],
])('npm i %s', (name, framework, tarball) => {
  test('then npx baton --help and the adapter bin work', () => {
    const project = tempDir('baton-fresh-');
    made.push(project);
    // @baton/core is not on the registry: point the transitive dependency at its tarball.
    fs.writeFileSync(
      path.join(project, 'package.json'),
      JSON.stringify({
        name: 'fresh',
        version: '1.0.0',
        private: true,
        overrides: { '@baton/core': `file:${path.join(packs, 'baton-core-0.1.0.tgz')}` },
      }),
    );
    run(
      'npm',
      ['install', '--no-audit', '--no-fund', '--prefer-offline', path.join(packs, tarball), framework],
      project,
    );
    const installed = JSON.parse(fs.readFileSync(path.join(project, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(Object.keys(installed.dependencies).sort()).toEqual([name, framework].sort());

    expect(run('npx', ['--no-install', 'baton', '--help'], project)).toMatch(/^Usage: baton \[options\] \[command\]/);
    expect(run('npx', ['--no-install', 'baton', 'run', '--help'], project)).toMatch(/^Usage: baton run/);
    // The adapter's own bin, the one a strict layout (pnpm) links for a direct dependency.
    const bin = path.join(project, 'node_modules', ...name.split('/'), 'bin', 'baton.js');
    expect(fs.statSync(bin).mode & 0o111).not.toBe(0);
    expect(run(process.execPath, [bin, '--version'], project).trim()).toBe('0.1.0');
  });
});
