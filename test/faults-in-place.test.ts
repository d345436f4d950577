import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { request } from './helpers/http';
import {
  FIXTURES,
  isAlive,
  killAll,
  readPid,
  startServer,
  tempDir,
  waitFor,
  waitForExit,
  waitForPidFileChange,
  waitForPort,
} from './helpers/processes';
import { exitOf, requestUnix, successorPidsFromLog, waitForOutput, writeBuild } from './helpers/service';

// Faults at the worst moment, in place (DESIGN.md invariants 7 and 8): each test kills, crashes or
// signals at exactly the moment it names, under keep-alive load, and checks what serves afterwards.

afterEach(killAll);

const APP = path.join(FIXTURES, 'fault-app.js');

function start(env: Record<string, string> = {}) {
  const dir = tempDir();
  const pidFile = path.join(dir, 'app.pid');
  writeBuild(dir, '1.0');
  const server = startServer(APP, { BUILD_DIR: dir, BATON_PID_FILE: pidFile, ...env });
  return { dir, pidFile, server };
}

/**
 * Keep-alive clients in a loop until stopped (bounded by `maxRequests`), counting answers and errors
 * by code. ECONNREFUSED means nobody held the listening socket: that must never happen.
 */
function keepAliveLoad(port: number, clients = 4, maxRequests = 20_000) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const errors = new Map<string, number>();
  let ok = 0;
  let sent = 0;
  let stopped = false;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/version', agent }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) ok += 1;
          resolve();
        });
        res.on('error', () => resolve());
      });
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
      req.on('error', (error: NodeJS.ErrnoException) => {
        const code = error.code ?? error.message;
        errors.set(code, (errors.get(code) ?? 0) + 1);
        resolve();
      });
    });
  const loops = Array.from({ length: clients }, async () => {
    while (!stopped && sent < maxRequests) {
      sent += 1;
      await one();
    }
  });
  return {
    async stop() {
      stopped = true;
      await Promise.all(loops);
      agent.destroy();
      return { ok, errors: Object.fromEntries(errors) };
    },
  };
}

test('the old generation is killed -9 while its successor boots: the successor takes over, nothing is refused', async () => {
  const { dir, pidFile, server } = start({ READY_DELAY_MS: '1500' });
  const port = await waitForPort(server);
  // Ready (a turn after listening): a SIGHUP before that is refused.
  await waitForOutput(server, /serving on /);
  const load = keepAliveLoad(port);
  writeBuild(dir, '1.1', 'slow-ready');
  process.kill(server.pid, 'SIGHUP');
  const [successor] = successorPidsFromLog(await waitForOutput(server, /adopting fd 3 from pid/));
  process.kill(server.pid, 'SIGKILL');

  expect(await waitForPidFileChange(pidFile, server.pid)).toBe(successor);
  const output = await waitForOutput(
    server,
    new RegExp(
      `baton\\[${successor}\\] warn: pid ${server.pid} died while this generation started; serving in its place`,
    ),
  );
  expect(output).not.toMatch(/ERR_BATON_BAD_HANDOFF/);
  expect((await request(port, '/version')).body).toBe(`1.1 pid=${successor}\n`);
  const result = await load.stop();
  // Requests in flight on the killed process are cut with it (kill -9); the socket never closed.
  expect(result.errors.ECONNREFUSED).toBeUndefined();
  expect(result.ok).toBeGreaterThan(0);
});

test('a build that dies 1 s after it was ready is rolled back: the old generation accepts again, and the next reload works', async () => {
  const { dir, pidFile, server } = start({ DIE_AFTER_MS: '1000', BATON_SETTLE_MS: '10000' });
  const port = await waitForPort(server);
  // Ready (a turn after listening): a SIGHUP before that is refused.
  await waitForOutput(server, /serving on /);
  const load = keepAliveLoad(port);
  writeBuild(dir, '1.1', 'die-after-ready');
  process.kill(server.pid, 'SIGHUP');
  const [bad] = successorPidsFromLog(await waitForOutput(server, /adopting fd 3 from pid/));
  await waitForOutput(
    server,
    new RegExp(
      `rolled back: next generation pid ${bad} exited with code 1 \\d+ ms after it was ready; pid ${server.pid} serves again`,
    ),
  );
  expect(readPid(pidFile)).toBe(server.pid);
  expect((await request(port, '/version')).body).toBe(`1.0 pid=${server.pid}\n`);
  expect(isAlive(bad as number)).toBe(false);

  // A fixed build reloads as usual.
  writeBuild(dir, '1.2');
  process.kill(server.pid, 'SIGHUP');
  const fixed = await waitForPidFileChange(pidFile, server.pid);
  expect((await request(port, '/version')).body).toBe(`1.2 pid=${fixed}\n`);
  const result = await load.stop();
  expect(result.errors.ECONNREFUSED).toBeUndefined();
  expect(result.ok).toBeGreaterThan(0);
  expect(await exitOf(server)).toEqual({ code: 0, signal: null });
});

test('after a reload, the final SIGTERM removes the unix socket file, so the next start can bind it', async () => {
  const dir = tempDir();
  const socketPath = path.join(dir, 'app.sock');
  const { dir: buildDir, pidFile, server } = start({ LISTEN_PATH: socketPath, BATON_SETTLE_MS: '0' });
  await waitForOutput(server, /listening /);
  writeBuild(buildDir, '1.1');
  process.kill(server.pid, 'SIGHUP');
  const successor = await waitForPidFileChange(pidFile, server.pid);
  expect((await requestUnix(socketPath, '/version')).body).toBe(`1.1 pid=${successor}\n`);
  await exitOf(server);

  process.kill(successor, 'SIGTERM');
  await waitForExit(successor);
  expect(fs.existsSync(socketPath)).toBe(false);

  const again = start({ LISTEN_PATH: socketPath });
  await waitForOutput(again.server, /listening /);
  expect((await requestUnix(socketPath, '/version')).body).toBe(`1.0 pid=${again.server.pid}\n`);
});

test('a successor that started a child process and is never ready: at the ready timeout the child dies with it', async () => {
  const { dir, server } = start({ BATON_READY_TIMEOUT_MS: '1500' });
  const port = await waitForPort(server);
  // Ready (a turn after listening): a SIGHUP before that is refused.
  await waitForOutput(server, /serving on /);
  writeBuild(dir, '1.1', 'spawn-then-hang');
  process.kill(server.pid, 'SIGHUP');
  const sleeper = Number((await waitForOutput(server, /spawned (\d+)/)).match(/spawned (\d+)/)?.[1]);
  await waitForOutput(server, /not ready after 1500 ms; killed it/);
  await waitFor(`the successor's own child ${sleeper} to be gone`, () => !isAlive(sleeper) || undefined, 5000);
  expect((await request(port, '/version')).body).toBe(`1.0 pid=${server.pid}\n`);
});
