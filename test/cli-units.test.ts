// The pure pieces of the CLI and the supervisor, without processes.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseDuration, parseWorkers } from '../packages/core/src/cli/parse';
import { formatStatus } from '../packages/core/src/cli/status';
import { restartDelay, RESTART_MAX_MS } from '../packages/core/src/supervisor/backoff';
import { resolveWorkerCommand } from '../packages/core/src/supervisor/command';
import { bindListenFlag } from '../packages/core/src/supervisor/listen-flags';
import { ListenerInventory } from '../packages/core/src/supervisor/listener-inventory';
import { checkControlPath } from '../packages/core/src/control/socket-path';
import { claimInherited, readInheritance, workerEnv } from '../packages/core/src/wire/handoff-env';
import { tempDir } from './helpers/processes';

describe('durations and worker counts', () => {
  test.each([
    ['30', 30_000],
    ['30s', 30_000],
    ['500ms', 500],
    ['2m', 120_000],
    ['1.5s', 1500],
  ])('%s is %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  test.each(['', 'soon', '-1', '0', '5h', '1e3'])('%j is refused', (text) =>
    expect(() => parseDuration(text)).toThrow(/expected|greater than 0/),
  );

  test('the longest a Node timer can wait is the longest duration, as for BATON_*_MS', () => {
    expect(parseDuration('2147483647ms')).toBe(2_147_483_647);
    for (const text of ['2147483648ms', '9999999999ms', '2147484s', '35792m', '99999999999999999999']) {
      expect(() => parseDuration(text)).toThrow(/at most 2147483647 ms/);
    }
  });

  test('workers: a count from 1, or auto', () => {
    expect(parseWorkers('3')).toBe(3);
    expect(parseWorkers('auto')).toBe(os.availableParallelism());
    for (const bad of ['0', '-2', 'two', '1.5', '5000'])
      expect(() => parseWorkers(bad)).toThrow(/expected|greater than 0/);
  });
});

test('restart delays double from 100 ms and stop at the ceiling', () => {
  expect([1, 2, 3, 4].map((n) => restartDelay(n))).toEqual([100, 200, 400, 800]);
  expect(restartDelay(40)).toBe(RESTART_MAX_MS);
  expect(restartDelay(0)).toBe(100);
});

describe('worker commands', () => {
  test('a program runs as given; a script path runs with this node', () => {
    expect(resolveWorkerCommand(['node', 'server.js', '--port', '3'], '/srv')).toEqual({
      file: 'node',
      args: ['server.js', '--port', '3'],
    });
    expect(resolveWorkerCommand(['server.js'], '/srv')).toEqual({ file: process.execPath, args: ['server.js'] });
  });

  test.each(['npm', '/usr/bin/pnpm', 'yarn', 'npx', 'tsx', 'nodemon'])(
    '%s is refused with ERR_BATON_UNSUPPORTED',
    (launcher) => {
      expect(() => resolveWorkerCommand([launcher, 'start'], '/srv')).toThrow(
        expect.objectContaining({ code: 'ERR_BATON_UNSUPPORTED' }),
      );
    },
  );

  test('no command at all', () => {
    expect(() => resolveWorkerCommand([], '/srv')).toThrow(/needs the command to run after --/);
  });
});

describe('the listener inventory', () => {
  test('given sockets first, learned ones by key; a known key is not learned twice', () => {
    const inventory = new ListenerInventory();
    inventory.addGiven(3, 'http', 'systemd');
    const closed: number[] = [];
    expect(inventory.learn('tcp:127.0.0.1:0', { fd: 21, close: () => closed.push(21) })).toBe(true);
    expect(inventory.learn('tcp:127.0.0.1:0', { fd: 22, close: () => closed.push(22) })).toBe(false);
    expect(closed).toEqual([22]);
    expect(inventory.fds()).toEqual([3, 21]);
    expect(workerEnv(inventory.names(), 9)).toEqual({
      LISTEN_FDS: '2',
      LISTEN_FDNAMES: 'given%3Ahttp:tcp%3A127.0.0.1%3A0',
      BATON_SUPERVISOR_PID: '9',
    });
    expect(workerEnv(new ListenerInventory().names(), 9)).toEqual({ BATON_SUPERVISOR_PID: '9' });
  });

  test('a worker claims by key, and takes given sockets in order for keys the supervisor does not hold', () => {
    const inheritance = {
      source: 'supervisor' as const,
      supervisorPid: 1234,
      sockets: [
        { fd: 3, name: 'given:http', claimed: false },
        { fd: 4, name: 'tcp:127.0.0.1:9527', claimed: false },
      ],
    };
    expect(claimInherited(inheritance, 'tcp:127.0.0.1:9527')?.fd).toBe(4);
    expect(claimInherited(inheritance, 'tcp:*:8080')?.fd).toBe(3);
    expect(claimInherited(inheritance, 'tcp:*:8081')).toBeUndefined();
  });

  test('BATON_SUPERVISOR_PID without sockets yet, and a bad one', () => {
    expect(readInheritance({ BATON_SUPERVISOR_PID: '4321' }, 10, 4321)).toEqual({
      source: 'supervisor',
      sockets: [],
      supervisorPid: 4321,
    });
    expect(() => readInheritance({ BATON_SUPERVISOR_PID: 'x' }, 10, 4321)).toThrow(
      /BATON_SUPERVISOR_PID="x" is not a process id/,
    );
    expect(() =>
      readInheritance({ BATON_SUPERVISOR_PID: '4321', LISTEN_FDS: '2', LISTEN_FDNAMES: 'a' }, 10, 4321),
    ).toThrow(/has 1 names but LISTEN_FDS=2/);
  });
});

describe('--listen', () => {
  test('binds without listening: a connection is refused until a worker listens on the fd', async () => {
    const bound = bindListenFlag('127.0.0.1:0', '/');
    try {
      expect(bound.label).toBe('tcp:127.0.0.1:0');
      expect(bound.handle.fd).toBeGreaterThan(2);
      const server = net.createServer((c) => c.end('hi'));
      await new Promise<void>((resolve) => server.listen({ fd: bound.handle.fd }, resolve));
      const { port } = server.address() as net.AddressInfo;
      const reply = await new Promise<string>((resolve, reject) => {
        const c = net.connect(port, '127.0.0.1');
        let text = '';
        c.on('data', (d) => (text += d));
        c.on('end', () => resolve(text));
        c.on('error', reject);
      });
      expect(reply).toBe('hi');
      server.close();
    } finally {
      bound.handle.close?.();
    }
  });

  test.each([
    ['localhost:80', /is not an IP address/],
    ['127.0.0.1:99999', /port 99999 must be from 0 to 65535/],
    ['nonsense', /expected PORT, HOST:PORT/],
  ])('%s is refused, naming it', (value, message) => {
    expect(() => bindListenFlag(value, '/')).toThrow(message);
  });
});

describe('control socket paths', () => {
  test('a missing directory, a world-writable one, and an existing non-socket are refused', () => {
    const dir = tempDir();
    expect(() => checkControlPath(path.join(dir, 'nope', 'ctl.sock'))).toThrow(/does not exist/);
    const open = path.join(dir, 'open');
    fs.mkdirSync(open);
    fs.chmodSync(open, 0o777);
    expect(() => checkControlPath(path.join(open, 'ctl.sock'))).toThrow(/writable by every user and not sticky/);
    fs.chmodSync(open, 0o1777);
    expect(checkControlPath(path.join(open, 'ctl.sock'))).toBe(path.join(open, 'ctl.sock'));
    fs.writeFileSync(path.join(dir, 'file'), '');
    expect(() => checkControlPath(path.join(dir, 'file'))).toThrow(/exists and is not a socket/);
  });
});

test('status text names the mode, the workers and the last reload', () => {
  const connections = { sockets: 3, activeRequests: 1, idle: 2, upgraded: 0 };
  const lines = formatStatus({
    mode: 'supervised',
    pid: 100,
    phase: 'serving',
    uptimeMs: 65_000,
    workers: { wanted: 2, ready: 2, starting: 0, draining: 1 },
    generations: [
      { pid: 201, generation: 2, state: 'ready', uptimeMs: 5000, connections },
      { pid: 101, generation: 1, state: 'draining', uptimeMs: 60_000 },
    ],
    connections,
    listeners: [{ key: 'tcp:127.0.0.1:9527', fd: 20 }],
    restarts: 1,
    lastReload: {
      ok: false,
      at: '2026-01-01T00:00:00.000Z',
      code: 'ERR_BATON_CHILD_EXITED',
      message: 'worker pid 7 exited with code 1 before it was ready',
    },
  });
  expect(lines[0]).toBe('supervised: supervisor pid 100, serving, up 65.0 s');
  expect(lines[1]).toBe('workers: 2 ready of 2 wanted, 0 starting, 1 draining; 1 restarted after a crash');
  expect(lines).toContain('  pid 101 generation 1: draining, up 60.0 s');
  expect(lines[lines.length - 1]).toMatch(/^last reload: FAILED at .* \(ERR_BATON_CHILD_EXITED\): worker pid 7/);
});
