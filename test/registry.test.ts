// The packages as a user gets them: published with `pnpm publish -r` to a real registry (verdaccio on a
// loopback port, no uplink), then installed into fresh npm, pnpm and yarn projects from that registry
// only, where a tiny app is started, reloaded in place with SIGHUP and asked through `npx baton` and
// `npx @baton/core`. The registry is seeded first with express, koa and the packages' own dependencies,
// packed from this workspace's node_modules, since it has no uplink. The package managers themselves
// (pnpm, yarn 1) come from the public registry through npx, as for any user.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { MARKER_VARIABLE, pidsWithMarker, readPid, ROOT, tempDir, waitFor, waitForExit } from './helpers/processes';

jest.setTimeout(240_000);

const PNPM = 'pnpm@10.34.9';
const YARN = 'yarn@1.22.22';
const PACKAGES = ['core', 'express', 'koa', 'fastify'];
const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'packages', 'core', 'package.json'), 'utf8')) as Manifest)
  .version;
/** Every process this file starts (and every successor of theirs) carries this, for the teardown. */
const MARKER = `registry-test-${crypto.randomUUID()}`;

interface Manifest {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let work: string;
let registry: string;
let verdaccio: ChildProcess | undefined;
let verdaccioOutput = '';

/**
 * The environment of a user's shell: nothing of pnpm's or jest's (npm_config_*, NODE_PATH, BATON_*),
 * which would leak this workspace into the projects; `extra` on top.
 */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_|pnpm_|yarn_|BATON_)/i.test(key) || ['NODE_PATH', 'INIT_CWD', 'NODE_OPTIONS'].includes(key)) continue;
    env[key] = value;
  }
  return {
    ...env,
    [MARKER_VARIABLE]: MARKER,
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
    ...extra,
  };
}

/** Runs a command to its end (bounded), never throwing: the caller checks the code and shows the output. */
function run(file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd, env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function ok(result: Run, what: string): string {
  if (result.code !== 0) throw new Error(`${what} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** One HTTP request without keep-alive (a kept-alive connection would hold a draining generation). */
function request(
  method: string,
  url: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method, agent: false, headers: { connection: 'close', ...headers }, timeout: 30_000 },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer in 30 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

async function startVerdaccio(): Promise<void> {
  const port = await freePort();
  registry = `http://127.0.0.1:${port}/`;
  const config = path.join(work, 'verdaccio.yaml');
  fs.writeFileSync(
    config,
    [
      `storage: ${JSON.stringify(path.join(work, 'storage'))}`,
      'auth:',
      '  htpasswd:',
      `    file: ${JSON.stringify(path.join(work, 'htpasswd'))}`,
      '    max_users: 1',
      'uplinks: {}',
      'packages:',
      "  '**':",
      '    access: $all',
      // Anyone: the seed below publishes without a token (each token check is a bcrypt hash, ~0.1 s);
      // npm (under pnpm publish) insists on one, so the packages go with the registered user's.
      '    publish: $all',
      '    unpublish: $all',
      'max_body_size: 200mb',
      'web:',
      '  enable: false',
      'log: { type: stdout, format: pretty, level: warn }',
      '',
    ].join('\n'),
  );
  const bin = path.join(ROOT, 'node_modules', 'verdaccio', 'bin', 'verdaccio');
  verdaccio = spawn(process.execPath, [bin, '--config', config, '--listen', `127.0.0.1:${port}`], {
    cwd: work,
    env: userEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  verdaccio.stdout?.on('data', (chunk: Buffer) => (verdaccioOutput += chunk.toString()));
  verdaccio.stderr?.on('data', (chunk: Buffer) => (verdaccioOutput += chunk.toString()));
  await waitFor(
    () => `verdaccio to answer on ${registry}; its output:\n${verdaccioOutput}`,
    async () => {
      if (verdaccio?.exitCode !== null) throw new Error(`verdaccio exited ${verdaccio?.exitCode}:\n${verdaccioOutput}`);
      return (await request('GET', `${registry}-/ping`).catch(() => ({ status: 0 }))).status === 200 || undefined;
    },
    30_000,
  );
}

/** Registers the one user the config allows and returns its token. */
async function registerUser(): Promise<string> {
  const user = { name: 'baton-test', password: crypto.randomUUID() };
  const answer = await request(
    'PUT',
    `${registry}-/user/org.couchdb.user:${user.name}`,
    JSON.stringify({ ...user, type: 'user' }),
    {
      'content-type': 'application/json',
    },
  );
  const token = (JSON.parse(answer.text) as { token?: string }).token;
  if (answer.status !== 201 || !token) throw new Error(`registering a user: ${answer.status} ${answer.text}`);
  return token;
}

/** The directory `name` resolves to from `from`, by node's lookup (works in pnpm's layout too). */
function packageDir(name: string, from: string): string | undefined {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (path.basename(dir) !== 'node_modules') {
      const candidate = path.join(dir, 'node_modules', name, 'package.json');
      if (fs.existsSync(candidate)) return fs.realpathSync(path.dirname(candidate));
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

function readManifest(dir: string): Manifest {
  return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as Manifest;
}

/** Every installed package (name@version -> directory) that `roots` need at run time. */
function dependencyClosure(roots: Array<[name: string, from: string]>): Map<string, string> {
  const found = new Map<string, string>();
  const queue = roots.map(([name, from]) => ({ name, from, optional: false }));
  while (queue.length > 0) {
    const { name, from, optional } = queue.shift() as (typeof queue)[number];
    const dir = packageDir(name, from);
    if (dir === undefined) {
      if (optional) continue;
      throw new Error(`${name}, needed by ${from}, is not installed in this workspace`);
    }
    const manifest = readManifest(dir);
    const key = `${manifest.name}@${manifest.version}`;
    if (found.has(key)) continue;
    found.set(key, dir);
    for (const dep of Object.keys(manifest.dependencies ?? {})) queue.push({ name: dep, from: dir, optional: false });
    for (const dep of Object.keys(manifest.optionalDependencies ?? {}))
      queue.push({ name: dep, from: dir, optional: true });
    for (const dep of Object.keys(manifest.peerDependencies ?? {})) {
      if (!manifest.peerDependenciesMeta?.[dep]?.optional) queue.push({ name: dep, from: dir, optional: true });
    }
  }
  return found;
}

function compareVersions(a: string, b: string): number {
  const parts = (version: string): number[] => version.split(/[.+-]/).map((part) => Number(part) || 0);
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++)
    if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}

/** Publishes a tarball as npm publish does (one PUT of the packument with the tarball attached). */
async function publishTarball(manifest: Manifest, tarball: Buffer): Promise<void> {
  const { name, version } = manifest;
  const file = `${name}-${version}.tgz`;
  const body = JSON.stringify({
    _id: name,
    name,
    'dist-tags': { latest: version },
    versions: {
      [version]: {
        ...manifest,
        _id: `${name}@${version}`,
        dist: {
          integrity: `sha512-${crypto.createHash('sha512').update(tarball).digest('base64')}`,
          shasum: crypto.createHash('sha1').update(tarball).digest('hex'),
          tarball: `${registry}${name}/-/${file}`,
        },
      },
    },
    _attachments: {
      [file]: { content_type: 'application/octet-stream', data: tarball.toString('base64'), length: tarball.length },
    },
  });
  const answer = await request('PUT', `${registry}${name.replace('/', '%2f')}`, body, {
    'content-type': 'application/json',
  });
  if (answer.status !== 201 && answer.status !== 200)
    throw new Error(`publishing ${name}@${version}: ${answer.status} ${answer.text}`);
}

/** The registry has no uplink: put express, koa and the runtime dependencies of the packages in it. */
async function seedDependencies(): Promise<number> {
  const roots: Array<[string, string]> = [
    ['express', ROOT],
    ['koa', ROOT],
  ];
  for (const name of PACKAGES) {
    const dir = path.join(ROOT, 'packages', name);
    for (const dep of Object.keys(readManifest(dir).dependencies ?? {}))
      if (!dep.startsWith('@baton/')) roots.push([dep, dir]);
  }
  const closure = dependencyClosure(roots);
  const packs = path.join(work, 'seed');
  fs.mkdirSync(packs);
  const dirs = [...closure.values()];
  type Packed = Array<{ name: string; version: string; filename: string }>;
  const packed = await timed('npm pack (seed)', async () => {
    const result = await run(
      'npm',
      ['pack', '--ignore-scripts', '--json', '--pack-destination', packs, ...dirs],
      work,
      userEnv(),
    );
    return JSON.parse(ok(result, 'npm pack (seed)')) as Packed;
  });
  // Oldest first per name, so that `latest` ends on the newest, as on the public registry; names in parallel.
  const byName = new Map<string, typeof packed>();
  for (const entry of packed) byName.set(entry.name, [...(byName.get(entry.name) ?? []), entry]);
  const queue = [...byName.values()].map((versions) => versions.sort((a, b) => compareVersions(a.version, b.version)));
  const worker = async (): Promise<void> => {
    for (let versions = queue.shift(); versions !== undefined; versions = queue.shift()) {
      for (const { name, version, filename } of versions) {
        const dir = closure.get(`${name}@${version}`) as string;
        await publishTarball(readManifest(dir), fs.readFileSync(path.join(packs, filename)));
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return packed.length;
}

/** A copy of the workspace's packages (built), to publish from, linked as `pnpm install` links them. */
function publishCopy(): string {
  const copy = path.join(work, 'workspace');
  for (const name of PACKAGES) {
    const from = path.join(ROOT, 'packages', name);
    if (!fs.existsSync(path.join(from, 'dist', 'index.js')))
      throw new Error(`packages/${name} is not built: run pnpm build first`);
    fs.cpSync(from, path.join(copy, 'packages', name), {
      recursive: true,
      filter: (source) =>
        !['node_modules', 'src', 'test'].includes(path.relative(from, source).split(path.sep)[0] as string),
    });
    for (const [dep, range] of Object.entries(readManifest(from).dependencies ?? {})) {
      if (!range.startsWith('workspace:')) continue;
      const link = path.join(copy, 'packages', name, 'node_modules', dep);
      fs.mkdirSync(path.dirname(link), { recursive: true });
      fs.symlinkSync(path.join(copy, 'packages', dep.replace('@baton/', '')), link);
    }
  }
  fs.cpSync(path.join(ROOT, 'scripts'), path.join(copy, 'scripts'), { recursive: true });
  fs.writeFileSync(path.join(copy, 'package.json'), JSON.stringify({ name: 'baton-publish', private: true }));
  fs.writeFileSync(path.join(copy, 'pnpm-workspace.yaml'), 'packages:\n  - packages/*\n');
  return copy;
}

async function packument(
  name: string,
): Promise<{ versions: Record<string, Manifest & { bin?: Record<string, string> }> }> {
  const answer = await request('GET', `${registry}${name.replace('/', '%2f')}`);
  if (answer.status !== 200) throw new Error(`GET ${name}: ${answer.status} ${answer.text}`);
  return JSON.parse(answer.text) as { versions: Record<string, Manifest & { bin?: Record<string, string> }> };
}

let seeded = 0;
let yarnAvailable = false;
const timings: string[] = [];

async function timed<T>(what: string, step: () => Promise<T>): Promise<T> {
  const started = Date.now();
  const value = await step();
  timings.push(`${what} ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return value;
}

beforeAll(async () => {
  work = tempDir('baton-registry-');
  await timed('verdaccio', startVerdaccio);
  const token = await registerUser();
  // The token, for publishing only, in a global config: the user's own npmrc (proxy, CA) stays in force.
  const publishConfig = path.join(work, 'publish.npmrc');
  fs.writeFileSync(publishConfig, `//127.0.0.1:${new URL(registry).port}/:_authToken=${token}\n`);
  seeded = await timed('seed', seedDependencies);
  const copy = publishCopy();
  const publishEnv = userEnv({ npm_config_globalconfig: publishConfig });

  // npm publish from a package folder is refused while package.json holds a workspace: range.
  const refused = await run(
    'npm',
    ['publish', '--registry', registry],
    path.join(copy, 'packages', 'express'),
    publishEnv,
  );
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toMatch(/workspace:.*\n[\s\S]*pnpm publish -r/);

  await timed('pnpm publish -r', async () =>
    ok(
      await run('npx', ['-y', PNPM, 'publish', '-r', '--registry', registry, '--no-git-checks'], copy, publishEnv),
      'pnpm publish -r',
    ),
  );
  // Fetched from the public registry once (npx caches it); skipped below if that is not possible.
  yarnAvailable = (await run('npx', ['-y', YARN, '--version'], work, userEnv(), 60_000)).code === 0;
});

afterAll(async () => {
  for (const pid of pidsWithMarker([MARKER])) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
  if (verdaccio?.pid !== undefined && verdaccio.exitCode === null) {
    const exited = new Promise((resolve) => verdaccio?.once('exit', resolve));
    verdaccio.kill('SIGKILL');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
  }
  if (work) fs.rmSync(work, { recursive: true, force: true });
  // The steps' run times, for whoever watches this test's budget (about 2 minutes).
  if (timings.length > 0) console.log(`registry test: ${timings.join(', ')}; ${seeded} dependencies seeded`);
});

test('pnpm publish -r replaced the workspace: ranges with ^ ranges and kept the bins', async () => {
  for (const name of ['express', 'koa', 'fastify']) {
    const published = (await packument(`@baton/${name}`)).versions[VERSION];
    expect(published?.dependencies?.['@baton/core']).toBe(`^${VERSION}`);
    expect(published?.bin).toEqual({ baton: 'bin/baton.js' });
  }
  expect((await packument('@baton/core')).versions[VERSION]?.bin).toEqual({ baton: 'dist/cli/main.js' });
  // No uplink: what was not published here is not there.
  expect((await request('GET', `${registry}left-pad`)).status).toBe(404);
});

test('npx @baton/core runs the baton CLI where no baton package is installed', async () => {
  const empty = tempDir('baton-npx-');
  try {
    const env = userEnv({ npm_config_registry: registry, npm_config_cache: path.join(work, 'npx-cache') });
    expect(
      ok(await run('npx', ['-y', '@baton/core', '--version'], empty, env), 'npx @baton/core --version').trim(),
    ).toBe(VERSION);
    expect(
      ok(await run('npx', ['-y', '@baton/core', 'status', '--help'], empty, env), 'npx @baton/core status --help'),
    ).toMatch(/^Usage: baton status/);
  } finally {
    fs.rmSync(empty, { recursive: true, force: true });
  }
});

type Manager = 'npm' | 'pnpm' | 'yarn';

function installCommand(manager: Manager, packages: string[], project: string): [string, string[]] {
  // Caches and stores of this test's own, removed with it.
  const cache = (name: string): string => path.join(project, '..', name);
  const from = ['--registry', registry];
  switch (manager) {
    case 'npm':
      // Resolved URLs in package-lock.json (some machines' npmrc omits them), to check where things came from.
      return [
        'npm',
        ['install', ...from, '--cache', cache('npm'), '--omit-lockfile-registry-resolved=false', ...packages],
      ];
    case 'pnpm':
      return [
        'npx',
        ['-y', PNPM, 'add', ...from, '--store-dir', cache('pnpm-store'), '--cache-dir', cache('pnpm'), ...packages],
      ];
    case 'yarn':
      return ['npx', ['-y', YARN, 'add', ...from, '--cache-folder', cache('yarn'), '--non-interactive', ...packages]];
  }
}

function serverSource(framework: 'express' | 'koa', version: string): string {
  const app =
    framework === 'express'
      ? [
          "const express = require('express');",
          "const { listen } = require('@baton/express');",
          'const app = express();',
          `app.get('/version', (req, res) => res.send('${version}'));`,
        ]
      : [
          "const Koa = require('koa');",
          "const { listen } = require('@baton/koa');",
          'const app = new Koa();',
          `app.use((ctx) => { if (ctx.path === '/version') ctx.body = '${version}'; });`,
        ];
  return [
    ...app,
    "const server = listen(app, 0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));",
    '',
  ].join('\n');
}

describe.each<[Manager, 'express' | 'koa']>([
  ['npm', 'express'],
  ['pnpm', 'express'],
  ['yarn', 'express'],
  ['npm', 'koa'],
])('%s: @baton/%s from the registry', (manager, framework) => {
  test('installs with its framework; the app reloads in place on SIGHUP; npx baton and npx @baton/core work there', async () => {
    if (manager === 'yarn' && !yarnAvailable) {
      console.warn(`skipped: ${YARN} could not be fetched through npx`);
      return;
    }
    const base = path.join(work, `${manager}-${framework}`);
    const project = path.join(base, 'app');
    fs.mkdirSync(project, { recursive: true });
    fs.writeFileSync(
      path.join(project, 'package.json'),
      JSON.stringify({ name: 'app', version: '1.0.0', private: true }, null, 2),
    );
    const [file, args] = installCommand(manager, [`@baton/${framework}`, framework], project);
    await timed(`${manager} install (${framework})`, async () =>
      ok(await run(file, args, project, userEnv()), `${manager} install`),
    );

    // Everything came from this registry.
    const lockfile = { npm: 'package-lock.json', pnpm: undefined, yarn: 'yarn.lock' }[manager];
    if (lockfile !== undefined) {
      const lock = fs.readFileSync(path.join(project, lockfile), 'utf8');
      expect(lock).toContain(registry.replace(/\/$/, ''));
      expect(lock).not.toMatch(/registry\.(npmjs\.org|yarnpkg\.com)/);
    }

    // What got installed: the adapter's @baton/core is the published one, under a caret range; no source maps.
    const installed = ok(
      await run(
        process.execPath,
        [
          '-e',
          `const path = require('path'), fs = require('fs');
           const adapter = path.dirname(require.resolve('@baton/${framework}/package.json'));
           const core = path.dirname(require.resolve('@baton/core/package.json', { paths: [adapter] }));
           const files = (dir) => fs.readdirSync(dir, { recursive: true });
           console.log(JSON.stringify({
             range: require(adapter + '/package.json').dependencies['@baton/core'],
             core: require(core + '/package.json').version,
             licenses: [adapter, core].map((dir) => fs.existsSync(path.join(dir, 'LICENSE'))),
             maps: [adapter, core].flatMap((dir) => files(path.join(dir, 'dist')).filter((f) => f.endsWith('.map'))),
           }));`,
        ],
        project,
        userEnv(),
      ),
      'inspecting node_modules',
    );
    expect(JSON.parse(installed)).toEqual({ range: `^${VERSION}`, core: VERSION, licenses: [true, true], maps: [] });

    // The tiny app, in place, with a pid file and a control socket beside it.
    const script = path.join(project, 'server.js');
    fs.writeFileSync(script, serverSource(framework, '1.0'));
    const pidFile = path.join(project, 'app.pid');
    const appEnv = userEnv({
      BATON_PID_FILE: pidFile,
      BATON_CONTROL: `${pidFile}.sock`,
      BATON_SETTLE_MS: '0',
      BATON_LOG: 'info',
    });
    const app = spawn(process.execPath, ['server.js'], {
      cwd: project,
      env: appEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    app.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    app.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const port = await waitFor(
      () => `the app to listen; its output:\n${output}`,
      () => {
        if (app.exitCode !== null) throw new Error(`the app exited ${app.exitCode}:\n${output}`);
        return Number(/listening (\d+)/.exec(output)?.[1]) || undefined;
      },
    );
    const version = async (): Promise<string> => (await request('GET', `http://127.0.0.1:${port}/version`)).text;
    expect(await version()).toBe('1.0');
    const first = await waitFor('the pid file', () => readPid(pidFile));
    expect(first).toBe(app.pid);

    // The new build dropped in place, then kill -HUP: the same port answers with the new code.
    fs.writeFileSync(script, serverSource(framework, '2.0'));
    process.kill(first, 'SIGHUP');
    const second = await waitFor(
      () => `the pid file to name the successor; app output:\n${output}`,
      () => {
        const pid = readPid(pidFile);
        return pid !== undefined && pid !== first ? pid : undefined;
      },
    );
    await waitFor(
      () => `/version to answer 2.0; app output:\n${output}`,
      async () => (await version()) === '2.0' || undefined,
    );
    await waitForExit(first);

    // The CLI, run as a user runs it in the app's directory. --no: never the unrelated `baton` package.
    const cliEnv = userEnv({ npm_config_registry: registry, npm_config_cache: path.join(base, 'npx-cache') });
    const status = JSON.parse(
      ok(
        await run('npx', ['--no', 'baton', 'status', '--pid-file', 'app.pid', '--json'], project, cliEnv),
        'npx baton status',
      ),
    ) as unknown;
    expect(JSON.stringify(status)).toContain(`${second}`);
    expect(
      ok(await run('npx', ['-y', '@baton/core', '--version'], project, cliEnv), 'npx @baton/core --version').trim(),
    ).toBe(VERSION);

    process.kill(second, 'SIGTERM');
    await waitForExit(second);
  });
});
