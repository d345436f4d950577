import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from './helpers/http';
import { FIXTURES, killAll, readPid, rememberPid, waitFor, waitForPidFileChange } from './helpers/processes';
import { CLI } from './helpers/supervisor';

// Deploy the way people deploy (issue 9): /srv/app/current -> releases/N, started as
// `cd /srv/app/current && node --env-file=.env server.js`; a deploy switches the symlink and reloads.

afterEach(killAll);

function release(root: string, n: number, greeting: string): string {
  const dir = path.join(root, 'releases', String(n));
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'version.txt'), `${n}\n`);
  fs.writeFileSync(path.join(dir, '.env'), `GREETING=${greeting}\n`);
  fs.writeFileSync(path.join(dir, 'server.js'), `require(${JSON.stringify(path.join(FIXTURES, 'release-app.js'))});\n`);
  return dir;
}

/** `ln -sfn releases/N current`, atomically, as deploy tools do it (a new link renamed over the old). */
function switchCurrent(root: string, n: number): void {
  const next = path.join(root, `current.${n}.tmp`);
  fs.symlinkSync(path.join(root, 'releases', String(n)), next);
  fs.renameSync(next, path.join(root, 'current'));
}

test('in place: a switched `current` symlink and a changed .env take effect at each reload; the oldest release can be deleted', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-deploy-'));
  const pidFile = path.join(root, 'app.pid');
  release(root, 1, 'hello');
  switchCurrent(root, 1);
  const current = path.join(root, 'current');

  // As a shell does after `cd /srv/app/current`: the kernel resolves the link, PWD keeps the name.
  const child = spawn(process.execPath, ['--env-file=.env', 'server.js'], {
    cwd: current,
    env: {
      ...process.env,
      PWD: current,
      NODE_PATH: '',
      BATON_PID_FILE: pidFile,
      BATON_SETTLE_MS: '0',
      BATON_LOG: 'debug',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  rememberPid(child.pid);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const port = await waitFor(
    () => `listening line; output:\n${output}`,
    () => Number(/listening (\d+)/.exec(output)?.[1]) || undefined,
  );
  let pid = await waitFor('the pid file', () => readPid(pidFile));
  expect((await request(port, '/')).body).toBe(`1 greeting=hello path=/app/bin:/usr/bin pid=${pid}\n`);

  release(root, 2, 'bonjour');
  switchCurrent(root, 2);
  process.kill(pid, 'SIGHUP');
  pid = await waitForPidFileChange(pidFile, pid);
  expect((await request(port, '/')).body).toBe(`2 greeting=bonjour path=/app/bin:/usr/bin pid=${pid}\n`);

  release(root, 3, 'hallo');
  switchCurrent(root, 3);
  fs.rmSync(path.join(root, 'releases', '1'), { recursive: true });
  fs.rmSync(path.join(root, 'releases', '2'), { recursive: true });
  process.kill(pid, 'SIGHUP');
  pid = await waitForPidFileChange(pidFile, pid);
  expect((await request(port, '/')).body).toBe(`3 greeting=hallo path=/app/bin:/usr/bin pid=${pid}\n`);
  expect(output).not.toMatch(/reload failed/);
  fs.rmSync(root, { recursive: true, force: true });
});

test('baton run: each rolling reload starts the workers from the switched `current`, with the new .env', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-deploy-'));
  release(root, 1, 'hello');
  switchCurrent(root, 1);
  const current = path.join(root, 'current');
  const child = spawn(
    process.execPath,
    [CLI, 'run', '--settle', '0', '--', process.execPath, '--env-file=.env', 'server.js'],
    {
      cwd: current,
      env: { ...process.env, PWD: current, NODE_PATH: '', BATON_LOG: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  rememberPid(child.pid);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const port = await waitFor(
    () => `listening line; output:\n${output}`,
    () => Number(/listening (\d+)/.exec(output)?.[1]) || undefined,
  );
  const answer = async (): Promise<string> => (await request(port, '/')).body.replace(/ pid=\d+\n$/, '');
  await waitFor('release 1', async () =>
    (await answer()) === '1 greeting=hello path=/app/bin:/usr/bin' ? true : undefined,
  );

  for (const [n, greeting] of [
    [2, 'bonjour'],
    [3, 'hallo'],
  ] as const) {
    release(root, n, greeting);
    switchCurrent(root, n);
    if (n === 3) fs.rmSync(path.join(root, 'releases', '1'), { recursive: true });
    process.kill(child.pid as number, 'SIGHUP');
    await waitFor(`release ${n}`, async () =>
      (await answer()) === `${n} greeting=${greeting} path=/app/bin:/usr/bin` ? true : undefined,
    );
  }
  expect(output).not.toMatch(/reload failed/);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
  fs.rmSync(root, { recursive: true, force: true });
});
