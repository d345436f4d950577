// The deployment examples, exercised as written: the systemd units pass systemd-analyze verify and
// their ExecStart/ExecReload lines do what the comments say; the Dockerfile's entrypoint runs as
// PID 1 of a fresh PID namespace (what a container gives it). Paths are moved into a temp dir:
// /srv/app -> an app dir with examples/docker/server.js, /run/app and /run/baton -> a 0700 dir.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { request } from './helpers/http';
import {
  isAlive,
  killAll,
  readPid,
  rememberPid,
  ROOT,
  tempDir,
  waitFor,
  waitForExit,
  type Server,
} from './helpers/processes';
import { DEPLOYED_ENV, freePort, MARKER_VARIABLE, newMarker, servicePids, waitForOutput } from './helpers/service';
import { baton, CLI } from './helpers/supervisor';

afterEach(killAll);

const EXAMPLES = path.join(ROOT, 'examples');
const has = (tool: string): boolean => spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;

interface Layout {
  app: string;
  run: string;
  /** Rewrites the example's absolute paths into the temp layout. */
  move: (text: string) => string;
}

/** /srv/app as a temp dir: server.js, and node_modules with @baton/express, express and .bin/baton. */
function layout(): Layout {
  const root = tempDir('baton-example-');
  const app = path.join(root, 'app');
  const run = path.join(root, 'run');
  fs.mkdirSync(path.join(app, 'node_modules', '.bin'), { recursive: true });
  fs.mkdirSync(run, { mode: 0o700 });
  fs.copyFileSync(path.join(EXAMPLES, 'docker', 'server.js'), path.join(app, 'server.js'));
  for (const name of ['@baton', 'express'])
    fs.symlinkSync(path.join(ROOT, 'node_modules', name), path.join(app, 'node_modules', name));
  fs.symlinkSync(CLI, path.join(app, 'node_modules', '.bin', 'baton'));
  const move = (text: string): string =>
    text
      .replaceAll('/srv/app', app)
      .replaceAll('/run/app', run)
      .replaceAll('/run/baton', run)
      .replaceAll('/usr/bin/node', process.execPath);
  return { app, run, move };
}

/** `Key=value` lines of a unit file (every section), values in order. */
function unit(file: string): Map<string, string[]> {
  const entries = new Map<string, string[]>();
  for (const line of fs.readFileSync(path.join(EXAMPLES, 'systemd', file), 'utf8').split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (match) entries.set(match[1] as string, [...(entries.get(match[1] as string) ?? []), match[2] as string]);
  }
  return entries;
}

function unitEnv(entries: Map<string, string[]>, move: (s: string) => string): Record<string, string> {
  return Object.fromEntries(
    (entries.get('Environment') ?? []).map((e) => move(e).split(/=(.*)/s).slice(0, 2) as [string, string]),
  );
}

/** Starts an Exec line (split on spaces: the examples quote nothing) in the unit's WorkingDirectory. */
function exec(
  line: string,
  cwd: string,
  env: Record<string, string>,
  prefix: string[] = [],
): Server & { marker: string } {
  const marker = newMarker();
  const [file, ...args] = [...prefix, ...line.split(/\s+/)];
  const child = spawn(file as string, args, {
    cwd,
    env: { ...process.env, ...DEPLOYED_ENV, BATON_LOG: 'info', [MARKER_VARIABLE]: marker, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  rememberPid(child.pid);
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, pid: child.pid as number, output: () => text, exited, marker };
}

/** Runs an ExecReload line to completion. */
function reload(line: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [, ...args] = line.split(/\s+/);
  return baton(args);
}

(has('systemd-analyze') ? test : test.skip)('the systemd units pass systemd-analyze verify', () => {
  const { move } = layout();
  const dir = tempDir('baton-units-');
  const files = fs.readdirSync(path.join(EXAMPLES, 'systemd')).filter((f) => /\.(service|socket)$/.test(f));
  expect(files.sort()).toEqual([
    'app-activated.service',
    'app-inplace.service',
    'app-supervised.service',
    'app.socket',
  ]);
  for (const file of files)
    fs.writeFileSync(path.join(dir, file), move(fs.readFileSync(path.join(EXAMPLES, 'systemd', file), 'utf8')));
  const result = spawnSync('systemd-analyze', ['verify', '--man=no', ...files.map((f) => `./${f}`)], {
    cwd: dir,
    encoding: 'utf8',
  });
  expect(`${result.stdout}${result.stderr}`).toBe('');
  expect(result.status).toBe(0);
});

describe('the systemd units, run as written', () => {
  test('app-supervised.service: ExecStart serves with 2 workers, ExecReload reports the outcome, SIGTERM stops it', async () => {
    const { app, move } = layout();
    const service = unit('app-supervised.service');
    const port = await freePort();
    const server = exec(move(service.get('ExecStart')?.[0] as string), app, {
      ...unitEnv(service, move),
      PORT: String(port),
      HOST: '127.0.0.1',
    });
    await waitForOutput(server, /serving with 2 workers/);
    expect((await request(port, '/version')).status).toBe(200);
    const reloaded = await reload(move(service.get('ExecReload')?.[0] as string));
    expect(reloaded.code).toBe(0);
    expect(reloaded.stdout).toMatch(/reload ok: \d+, \d+ -> \d+, \d+/);
    servicePids(server.marker);
    process.kill(server.pid, 'SIGTERM'); // KillMode=mixed: the main process only
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(servicePids(server.marker)).toEqual([]);
  });

  test('app-inplace.service: the pid file and control socket follow each generation; ExecReload waits for the old one', async () => {
    const { app, run, move } = layout();
    const service = unit('app-inplace.service');
    const port = await freePort();
    const env = unitEnv(service, move);
    expect(env).toMatchObject({
      BATON_PID_FILE: path.join(run, 'app.pid'),
      BATON_CONTROL: path.join(run, 'control.sock'),
    });
    const server = exec(move(service.get('ExecStart')?.[0] as string), app, {
      ...env,
      PORT: String(port),
      HOST: '127.0.0.1',
    });
    await waitFor('the pid file', () => readPid(env.BATON_PID_FILE as string) === server.pid);
    const reloaded = await reload(move(service.get('ExecReload')?.[0] as string));
    expect(reloaded.code).toBe(0);
    const next = readPid(env.BATON_PID_FILE as string) as number;
    rememberPid(next);
    expect(next).not.toBe(server.pid);
    expect(isAlive(server.pid)).toBe(false);
    expect((await request(port, '/version')).body).toBe(`1.0 pid=${next}\n`);
    process.kill(next, 'SIGTERM');
    await waitForExit(next);
    expect(servicePids(server.marker)).toEqual([]);
  });

  (has('systemd-socket-activate') ? test : test.skip)(
    'app.socket + app-activated.service: the socket systemd binds serves through every reload',
    async () => {
      const { app, move } = layout();
      const socket = unit('app.socket');
      const service = unit('app-activated.service');
      const port = await freePort();
      const listen = (socket.get('ListenStream')?.[0] as string).replace(/:\d+$/, `:${port}`);
      const marker = newMarker();
      // systemd-socket-activate passes on only PATH and the -E variables.
      const setenv = Object.entries({ ...DEPLOYED_ENV, BATON_LOG: 'info', [MARKER_VARIABLE]: marker }).flatMap(
        ([n, v]) => ['-E', `${n}=${v}`],
      );
      const server = exec(move(service.get('ExecStart')?.[0] as string), app, {}, [
        'systemd-socket-activate',
        '-l',
        listen,
        `--fdname=${socket.get('FileDescriptorName')?.[0]}`,
        ...setenv,
      ]);
      await waitForOutput(server, new RegExp(`Listening on ${listen.replace(/\./g, '\\.')}`));
      expect((await request(port, '/version')).status).toBe(200);
      await waitForOutput(server, /serving with 2 workers/);
      expect(server.output()).toContain('on given:http');
      const reloaded = await reload(move(service.get('ExecReload')?.[0] as string));
      expect(reloaded.code).toBe(0);
      expect((await request(port, '/version')).status).toBe(200);
      servicePids(marker);
      process.kill(server.pid, 'SIGTERM');
      expect(await server.exited).toEqual({ code: 0, signal: null });
      expect(servicePids(marker)).toEqual([]);
    },
  );
});

/** ENTRYPOINT and CMD (JSON form), ENV and WORKDIR of the example Dockerfile. */
function dockerfile(): { entrypoint: string[]; cmd: string[]; env: Record<string, string> } {
  const text = fs.readFileSync(path.join(EXAMPLES, 'docker', 'Dockerfile'), 'utf8').replace(/\\\n\s*/g, ' ');
  const json = (name: string): string[] =>
    JSON.parse(new RegExp(`^${name} (\\[.*\\])$`, 'm').exec(text)?.[1] ?? '[]') as string[];
  const env: Record<string, string> = {};
  for (const line of text.split('\n').filter((l) => l.startsWith('ENV '))) {
    for (const [, name, value] of line.slice(4).matchAll(/(\w+)=(\S+)/g)) env[name as string] = value as string;
  }
  return { entrypoint: json('ENTRYPOINT'), cmd: json('CMD'), env };
}

const canUnshare = process.getuid?.() === 0 && has('unshare');
(canUnshare ? test : test.skip)(
  'the Dockerfile entrypoint runs as PID 1: serves, reloads through the control socket, stops on SIGTERM with exit 0',
  async () => {
    const { app, run, move } = layout();
    const image = dockerfile();
    expect(image.entrypoint.slice(0, 2)).toEqual(['/usr/bin/tini', '--']);
    // tini is what the image adds as PID 1; here baton itself is PID 1, the harder case.
    const command = [...image.entrypoint.slice(2), ...image.cmd].map((arg) =>
      move(arg).replace(/^node_modules\//, `${app}/node_modules/`),
    );
    const port = await freePort();
    const marker = newMarker();
    const child = spawn('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', ...command], {
      cwd: app,
      env: {
        ...process.env,
        ...image.env,
        ...DEPLOYED_ENV,
        PORT: String(port),
        HOST: '127.0.0.1',
        [MARKER_VARIABLE]: marker,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Inside the namespace the workers have small pids: remember host pids only (from /proc), never the logged ones.
    rememberPid(child.pid);
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await waitFor('serving with 2 workers', () => output.includes('serving with 2 workers'));
    expect(output).toMatch(/baton\[1\] supervisor pid 1: 2 workers/);
    expect(output).toContain('running as PID 1');
    // unshare itself, the supervisor (PID 1 inside) and 2 workers.
    const hostPids = servicePids(marker);
    expect(hostPids.length).toBe(4);
    const supervisor = Number(
      fs.readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/)[0],
    );
    expect(hostPids).toContain(supervisor);

    expect((await request(port, '/version')).status).toBe(200);
    const reloaded = await baton(['reload', '--control', path.join(run, 'control.sock'), '--json']);
    expect(reloaded.code).toBe(0);
    expect(JSON.parse(reloaded.stdout)).toMatchObject({ ok: true, mode: 'supervised' });
    servicePids(marker);

    process.kill(supervisor, 'SIGTERM'); // docker stop
    expect(await exited).toBe(0);
    expect(servicePids(marker)).toEqual([]);
  },
);
