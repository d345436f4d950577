import fs from 'node:fs';
import path from 'node:path';
import { request } from './helpers/http';
import {
  FIXTURES,
  isAlive,
  killAll,
  readPid,
  rememberPid,
  startServer,
  tempDir,
  waitForPidFileChange,
  waitForPort,
} from './helpers/processes';
import {
  DEPLOYED_ENV,
  exitOf,
  MARKER_VARIABLE,
  newMarker,
  servicePids,
  successorPidsFromLog,
  waitForOutput,
  writeBuild,
} from './helpers/service';

// Invariant 2: a successor that throws, exits early or is never ready is killed and reaped, the old
// generation keeps serving untouched, the pid file is unchanged, and the next reload works.

// killAll also finds, by the service's marker, any successor whose pid the test never read.
afterEach(killAll);

const READY_TIMEOUT_MS = 1500;
const AUTH = { authorization: 'Bearer test-token' };

const broken = [
  { behavior: 'throw', code: 'ERR_BATON_CHILD_EXITED', log: /exited with code 1 before it was ready/ },
  { behavior: 'exit0', code: 'ERR_BATON_CHILD_EXITED', log: /exited with code 0 before it was ready/ },
  {
    behavior: 'never-ready',
    code: 'ERR_BATON_READY_TIMEOUT',
    log: new RegExp(`not ready after ${READY_TIMEOUT_MS} ms; killed it`),
  },
] as const;

async function startService(framework: string) {
  const dir = tempDir();
  const pidFile = path.join(dir, 's.pid');
  const marker = newMarker();
  writeBuild(dir, '1.0');
  const server = startServer(path.join(FIXTURES, 'app.js'), {
    ...DEPLOYED_ENV,
    FRAMEWORK: framework,
    BUILD_DIR: dir,
    BATON_PID_FILE: pidFile,
    BATON_READY_TIMEOUT_MS: String(READY_TIMEOUT_MS),
    [MARKER_VARIABLE]: marker,
  });
  // Remember every successor the moment the log names it (a never-ready one outlives its predecessor
  // when teardown SIGKILLs that predecessor first), whatever assertion fails later.
  const remember = (): void => void successorPidsFromLog(server.output());
  server.child.stdout?.on('data', remember);
  server.child.stderr?.on('data', remember);
  const port = await waitForPort(server);
  // Ready (and so the pid file written) comes one turn after the listening callback.
  await waitForOutput(server, /serving on /);
  expect(readPid(pidFile)).toBe(server.pid);
  return { dir, pidFile, marker, server, port };
}

/** What must hold after any failed reload: nothing changed, nothing left behind. */
async function expectNothingChanged(
  svc: Awaited<ReturnType<typeof startService>>,
  successorPid: number,
): Promise<void> {
  const { server, port, pidFile, dir, marker } = svc;
  // The failure is reported only after the successor was reaped: dead now, not even a zombie.
  expect(isAlive(successorPid)).toBe(false);
  expect(servicePids(marker)).toEqual([server.pid]);
  expect(isAlive(server.pid)).toBe(true);
  expect((await request(port, '/version')).body).toBe(`1.0 pid=${server.pid}\n`);
  expect(readPid(pidFile)).toBe(server.pid);
  // No half-written pid file left next to it either.
  expect(fs.readdirSync(dir).sort()).toEqual(['build.json', 's.pid']);
}

/** Restores a good build and checks that the next reload (via /upgrade) works. */
async function expectNextReloadWorks(svc: Awaited<ReturnType<typeof startService>>): Promise<void> {
  const { server, port, pidFile, dir, marker } = svc;
  writeBuild(dir, '1.1');
  const upgraded = await request(port, '/upgrade', { method: 'POST', headers: AUTH });
  expect(upgraded.status).toBe(200);
  expect(upgraded.body).toMatch(new RegExp(`^restart ok ${server.pid} -> \\d+\\n$`));
  const newPid = Number(/-> (\d+)/.exec(upgraded.body)?.[1]);
  rememberPid(newPid);
  expect(await exitOf(server)).toEqual({ code: 0, signal: null });
  expect((await request(port, '/version')).body).toBe(`1.1 pid=${newPid}\n`);
  expect(readPid(pidFile)).toBe(newPid);
  expect(servicePids(marker)).toEqual([newPid]);
}

describe.each(['express', 'koa'])('a broken next build on %s, reloaded through /upgrade', (framework) => {
  test.each(broken)(
    'behavior $behavior: /upgrade answers 500 $code, the old generation keeps serving',
    async ({ behavior, code, log }) => {
      const svc = await startService(framework);
      writeBuild(svc.dir, '1.1', behavior);

      const failed = await request(svc.port, '/upgrade', { method: 'POST', headers: AUTH });
      const successors = successorPidsFromLog(svc.server.output());
      expect(failed.status).toBe(500);
      expect(failed.body).toBe(`restart failed ${code}\n`);

      expect(successors).toHaveLength(1);
      const successorPid = successors[0] as number;
      expect(successorPid).not.toBe(svc.server.pid);
      expect(svc.server.output()).toMatch(log);
      expect(svc.server.output()).toContain(`reload failed, still serving as pid ${svc.server.pid}`);
      await expectNothingChanged(svc, successorPid);

      // A second failure in a row changes nothing either (endless wedged after the first one).
      const again = await request(svc.port, '/upgrade', { method: 'POST', headers: AUTH });
      const [, second] = successorPidsFromLog(svc.server.output());
      expect(again.body).toBe(`restart failed ${code}\n`);
      expect(second).toBeDefined();
      await expectNothingChanged(svc, second as number);

      await expectNextReloadWorks(svc);
    },
  );
});

describe('a broken next build, reloaded through kill -HUP $(cat s.pid)', () => {
  test.each(broken)(
    'behavior $behavior: the log says the reload failed, the pid file is unchanged, the next SIGHUP works',
    async ({ behavior, log }) => {
      const svc = await startService('express');
      const { server, pidFile, dir, port, marker } = svc;
      writeBuild(dir, '1.1', behavior);

      process.kill(readPid(pidFile) as number, 'SIGHUP');
      const output = await waitForOutput(server, /reload failed, still serving as pid \d+/);
      expect(output).toContain(`baton[${server.pid}] error: reload failed, still serving as pid ${server.pid}`);
      expect(output).toMatch(log);
      const successors = successorPidsFromLog(output);
      expect(successors).toHaveLength(1);
      await expectNothingChanged(svc, successors[0] as number);

      writeBuild(dir, '1.2');
      process.kill(readPid(pidFile) as number, 'SIGHUP');
      const newPid = await waitForPidFileChange(pidFile, server.pid);
      expect(successorPidsFromLog(server.output())).toEqual([successors[0], newPid]);
      expect(await exitOf(server)).toEqual({ code: 0, signal: null });
      expect((await request(port, '/version')).body).toBe(`1.2 pid=${newPid}\n`);
      expect(servicePids(marker)).toEqual([newPid]);
    },
  );
});

describe('stopping after or during a failed reload', () => {
  test.each(broken)(
    'behavior $behavior: after the failure, SIGTERM drains and exits 0 and removes the pid file',
    async ({ behavior }) => {
      const svc = await startService('express');
      const { server, pidFile, dir, marker } = svc;
      writeBuild(dir, '1.1', behavior);
      const failed = await request(svc.port, '/upgrade', { method: 'POST', headers: AUTH });
      successorPidsFromLog(server.output());
      expect(failed.status).toBe(500);

      process.kill(server.pid, 'SIGTERM');
      expect(await exitOf(server)).toEqual({ code: 0, signal: null });
      expect(server.output()).toContain(`baton[${server.pid}] SIGTERM: draining and exiting`);
      expect(fs.existsSync(pidFile)).toBe(false);
      expect(servicePids(marker)).toEqual([]);
    },
  );

  test('SIGTERM while a never-ready successor starts stops the service: the successor is killed at once, the old generation exits 0', async () => {
    const svc = await startService('express');
    const { server, pidFile, dir, marker } = svc;
    writeBuild(dir, '1.1', 'never-ready');
    process.kill(server.pid, 'SIGHUP');
    const output = await waitForOutput(server, /adopting fd 3 from pid/);
    const [successorPid] = successorPidsFromLog(output);

    process.kill(server.pid, 'SIGTERM');
    expect(await exitOf(server)).toEqual({ code: 0, signal: null });
    const log = server.output();
    // Invariant 8: the stop beats the reload (it is not left to the ready timeout, nor to the successor).
    expect(log).toContain(`SIGTERM: killing next generation pid ${successorPid}, which was still starting`);
    expect(log).toMatch(
      new RegExp(
        `reload failed, stopping as asked as pid ${server.pid}: reload cancelled by SIGTERM: next generation pid ${successorPid} was killed before it took over`,
      ),
    );
    expect(log).not.toMatch(/not ready after/);
    expect(isAlive(successorPid as number)).toBe(false);
    expect(fs.existsSync(pidFile)).toBe(false);
    expect(servicePids(marker)).toEqual([]);
  });
});
