// baton run under systemd's contracts, reproduced locally: socket activation (systemd-socket-activate
// execs the supervisor with the socket at fd 3), sd_notify through systemd-notify to a fake
// NOTIFY_SOCKET, and --listen, which binds before any worker runs.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { request } from './helpers/http';
import {
  killAll,
  readPid,
  rememberPid,
  startServer,
  tempDir,
  waitFor,
  waitForPidFileChange,
  waitForPort,
  type Server,
} from './helpers/processes';
import {
  DEPLOYED_ENV,
  freePort,
  MARKER_VARIABLE,
  newMarker,
  requestUnix,
  servicePids,
  waitForOutput,
  writeBuild,
} from './helpers/service';
import { APP, CLI, startSupervisor, waitForWorkers, workerPids } from './helpers/supervisor';

afterEach(killAll);

const SOCKET_ACTIVATE = '/usr/bin/systemd-socket-activate';
const canActivate = fs.existsSync(SOCKET_ACTIVATE);
/** The fake systemd below is a python datagram socket: both tools must be there. */
const canNotify =
  ['/usr/bin/systemd-notify', '/bin/systemd-notify'].some((f) => fs.existsSync(f)) &&
  spawnSync('python3', ['--version']).status === 0;

/** A fake systemd: a unix datagram socket (python, since Node has none) printing each notification. */
function notifySink(dir: string): { socket: string; lines: () => string[]; stop: () => void } {
  const socket = path.join(dir, 'notify.sock');
  const code = [
    'import socket, sys',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    's.bind(sys.argv[1])',
    'print("bound", flush=True)',
    'while True:',
    '    print(s.recv(4096).decode().replace("\\n", " ").strip(), flush=True)',
  ].join('\n');
  const child = spawn('python3', ['-c', code, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
  rememberPid(child.pid);
  let text = '';
  child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return {
    socket,
    lines: () => text.split('\n').filter((l) => l !== '' && l !== 'bound' && l !== 'BARRIER=1'),
    stop: () => child.kill('SIGKILL'),
  };
}

(canNotify ? describe : describe.skip)('sd_notify without a native addon', () => {
  test('baton run: READY=1 once the workers serve, RELOADING=1 then READY=1 around a reload; workers say nothing', async () => {
    const dir = tempDir();
    const sink = notifySink(dir);
    await waitFor('the fake notify socket', () => fs.existsSync(sink.socket));
    writeBuild(dir, '1.0');
    const supervisor = startSupervisor(['--workers', '2'], { BUILD_DIR: dir, NOTIFY_SOCKET: sink.socket });
    await waitFor('READY=1', () => sink.lines().some((l) => l.startsWith('READY=1')));
    expect(sink.lines()).toEqual(['READY=1 STATUS=2 workers serving']);

    process.kill(supervisor.pid, 'SIGHUP');
    await waitFor('READY=1 after the reload', () => sink.lines().length >= 3);
    const [, reloading, ready] = sink.lines();
    expect(reloading).toMatch(/^RELOADING=1 MONOTONIC_USEC=\d+$/);
    expect(ready).toBe('READY=1 STATUS=generation 2: 2 workers serving');
    workerPids(supervisor.output());
    process.kill(supervisor.pid, 'SIGTERM');
    await supervisor.exited;
    await waitFor('STOPPING=1', () => sink.lines().includes('STOPPING=1'));
    sink.stop();
  });

  test('in-place: READY=1 at start; at a reload RELOADING=1, then MAINPID=<new pid> READY=1', async () => {
    const dir = tempDir();
    const sink = notifySink(dir);
    await waitFor('the fake notify socket', () => fs.existsSync(sink.socket));
    const pidFile = path.join(dir, 's.pid');
    writeBuild(dir, '1.0');
    const server = startServer(APP, {
      BUILD_DIR: dir,
      NOTIFY_SOCKET: sink.socket,
      BATON_PID_FILE: pidFile,
      ...DEPLOYED_ENV,
    });
    await waitForPort(server);
    await waitFor('READY=1', () => sink.lines().length >= 1);
    process.kill(server.pid, 'SIGHUP');
    const newPid = await waitForPidFileChange(pidFile, server.pid);
    await waitFor('three notifications', () => sink.lines().length >= 3);
    expect(sink.lines()[0]).toBe('READY=1');
    expect(sink.lines()[1]).toMatch(/^RELOADING=1 MONOTONIC_USEC=\d+$/);
    expect(sink.lines()[2]).toBe(`MAINPID=${newPid} READY=1`);
    sink.stop();
  });
});

(canActivate ? describe : describe.skip)('socket activation', () => {
  /** systemd-socket-activate binds the port and execs the supervisor at the first connection, with fd 3. */
  function startActivated(port: number, runArgs: string[], env: Record<string, string>): Server & { marker: string } {
    const marker = newMarker();
    const setenv = Object.entries({ BATON_LOG: 'debug', ...DEPLOYED_ENV, [MARKER_VARIABLE]: marker, ...env }).flatMap(
      ([n, v]) => ['-E', `${n}=${v}`],
    );
    const server = startServer(APP, {}, [
      SOCKET_ACTIVATE,
      '-l',
      `127.0.0.1:${port}`,
      ...setenv,
      process.execPath,
      CLI,
      'run',
      ...runArgs,
      '--',
      process.execPath,
    ]);
    return { ...server, marker };
  }

  test("the supervisor adopts systemd's socket, its workers share it, and a rolling reload keeps it", async () => {
    const dir = tempDir();
    const pidFile = path.join(dir, 'app.pid');
    writeBuild(dir, '1.0');
    const port = await freePort();
    // The app asks for port 0: systemd's socket is taken in order, whatever the app's code says.
    const server = startActivated(port, ['--workers', '2', '--pid-file', pidFile], { BUILD_DIR: dir });
    await waitForOutput(server, new RegExp(`Listening on 127\\.0\\.0\\.1:${port} as 3`));
    const first = await request(port, '/version');
    expect(first.status).toBe(200);
    const [a, b] = await waitForWorkers(server, 2);
    expect(readPid(pidFile)).toBe(server.pid);
    expect(server.output()).toMatch(/supervisor pid \d+: 2 workers of .* on given:/);
    expect(server.output()).toMatch(/adopting fd 3 from supervisor pid/);
    expect(server.output()).not.toMatch(/holding tcp:/);

    writeBuild(dir, '1.1');
    process.kill(server.pid, 'SIGHUP');
    const [, , c, d] = await waitForWorkers(server, 4);
    await waitFor('1.1 on the activated port', async () => (await request(port, '/version')).body.startsWith('1.1 '));
    expect([c, d]).not.toContain(a);
    expect([c, d]).not.toContain(b);
    process.kill(server.pid, 'SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(servicePids(server.marker)).toEqual([]);
  });
});

test('--listen binds before the first worker; the app adopts it whatever port its code asks for', async () => {
  const dir = tempDir();
  writeBuild(dir, '1.0');
  const port = await freePort();
  const supervisor = startSupervisor(['--listen', `127.0.0.1:${port}`], { BUILD_DIR: dir });
  const printed = await waitForPort(supervisor);
  expect(printed).toBe(port);
  const [worker] = await waitForWorkers(supervisor, 1);
  expect((await request(port, '/version')).body).toBe(`1.0 pid=${worker}\n`);
  expect(supervisor.output()).toContain(`on given:tcp:127.0.0.1:${port}`);
});

test('--listen rejects an address it cannot use, naming it', async () => {
  const dir = tempDir();
  const supervisor = startSupervisor(['--listen', 'localhost:80x'], { BUILD_DIR: dir });
  expect((await supervisor.exited).code).toBe(2);
  expect(supervisor.output()).toMatch(/--listen "localhost:80x": expected PORT, HOST:PORT/);
});

test('a unix socket the first worker bound survives rolling reloads and is removed at exit', async () => {
  const dir = tempDir();
  const socket = path.join(dir, 'app.sock');
  writeBuild(dir, '1.0');
  const supervisor = startSupervisor(['--workers', '2'], { BUILD_DIR: dir, LISTEN_PATH: socket });
  await waitForWorkers(supervisor, 2);
  expect((await requestUnix(socket, '/version')).body).toMatch(/^1\.0 pid=/);
  writeBuild(dir, '1.1');
  process.kill(supervisor.pid, 'SIGHUP');
  await waitForWorkers(supervisor, 4);
  // Each old worker closed its copy of the socket, including the one that bound the path.
  await waitForOutput(supervisor, /worker \d+ exited with code 0/, 2);
  expect(fs.existsSync(socket)).toBe(true);
  expect((await requestUnix(socket, '/version')).body).toMatch(/^1\.1 pid=/);
  process.kill(supervisor.pid, 'SIGTERM');
  expect((await supervisor.exited).code).toBe(0);
  expect(fs.existsSync(socket)).toBe(false);
});
