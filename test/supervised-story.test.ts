// The seed's story under `baton run`: the same app, the same /upgrade and SIGHUP, but one stable
// PID (the supervisor's) in the pid file while the workers behind it change.
import fs from 'node:fs';
import path from 'node:path';
import { request } from './helpers/http';
import {
  isAlive,
  killAll,
  readPid,
  rememberPid,
  tempDir,
  waitFor,
  waitForExit,
  waitForPort,
} from './helpers/processes';
import { servicePids, writeBuild } from './helpers/service';
import { startSupervisor, waitForWorkers, workerPids } from './helpers/supervisor';

afterEach(killAll);

describe.each(['express', 'koa'])('the seed story under baton run on %s', (framework) => {
  test('/upgrade and kill -HUP $(cat pid) reload onto the new build; the pid file keeps naming the supervisor', async () => {
    const dir = tempDir();
    const pidFile = path.join(dir, 's.pid');
    writeBuild(dir, '1.0');
    const supervisor = startSupervisor(['--pid-file', pidFile], { FRAMEWORK: framework, BUILD_DIR: dir });
    const port = await waitForPort(supervisor);
    const [first] = await waitForWorkers(supervisor, 1);
    expect(readPid(pidFile)).toBe(supervisor.pid);
    expect((await request(port, '/version')).body).toBe(`1.0 pid=${first}\n`);

    writeBuild(dir, '1.1');
    expect((await request(port, '/upgrade', { method: 'POST' })).status).toBe(401);
    const upgraded = await request(port, '/upgrade', {
      method: 'POST',
      headers: { authorization: 'Bearer test-token' },
    });
    expect(upgraded.status).toBe(200);
    expect(upgraded.body).toMatch(new RegExp(`^restart ok ${first} -> \\d+\\n$`));
    const second = Number(/-> (\d+)/.exec(upgraded.body)?.[1]);
    rememberPid(second);
    expect(second).not.toBe(first);
    expect((await request(port, '/version')).body).toBe(`1.1 pid=${second}\n`);
    await waitForExit(first as number);
    expect(readPid(pidFile)).toBe(supervisor.pid);

    // The deploy script's way: SIGHUP to the pid in the pid file, which is the supervisor.
    writeBuild(dir, '1.2');
    process.kill(readPid(pidFile) as number, 'SIGHUP');
    const [, , third] = await waitForWorkers(supervisor, 3);
    await waitFor(
      '/version to answer 1.2',
      async () => (await request(port, '/version')).body === `1.2 pid=${third}\n`,
    );
    await waitForExit(second);
    expect(isAlive(supervisor.pid)).toBe(true);
    expect(readPid(pidFile)).toBe(supervisor.pid);

    // SIGTERM drains and exits 0, removes the pid file, and leaves no process behind.
    process.kill(supervisor.pid, 'SIGTERM');
    expect(await supervisor.exited).toEqual({ code: 0, signal: null });
    expect(fs.existsSync(pidFile)).toBe(false);
    expect(servicePids(supervisor.marker)).toEqual([]);
    expect(workerPids(supervisor.output()).filter(isAlive)).toEqual([]);
  });
});

test('SIGHUP sent to a worker (not the supervisor) asks the supervisor for the reload', async () => {
  const dir = tempDir();
  writeBuild(dir, '1.0');
  const supervisor = startSupervisor([], { BUILD_DIR: dir });
  const port = await waitForPort(supervisor);
  const [first] = await waitForWorkers(supervisor, 1);
  writeBuild(dir, '1.1');
  process.kill(first as number, 'SIGHUP');
  const [, second] = await waitForWorkers(supervisor, 2);
  expect(supervisor.output()).toContain(`worker ${first} asked for a reload`);
  await waitForExit(first as number);
  expect((await request(port, '/version')).body).toBe(`1.1 pid=${second}\n`);
});

test('a worker that loses its supervisor (SIGKILL) drains and exits instead of running on unmanaged', async () => {
  const dir = tempDir();
  writeBuild(dir, '1.0');
  const supervisor = startSupervisor(['--workers', '2'], { BUILD_DIR: dir });
  const workers = await waitForWorkers(supervisor, 2);
  process.kill(supervisor.pid, 'SIGKILL');
  for (const pid of workers) await waitForExit(pid);
  expect(servicePids(supervisor.marker)).toEqual([]);
});

test('with 2 workers, /upgrade answers from the worker that asked, after both were replaced', async () => {
  const dir = tempDir();
  writeBuild(dir, '1.0');
  const supervisor = startSupervisor(['--workers', '2'], { BUILD_DIR: dir });
  const port = await waitForPort(supervisor);
  const old = await waitForWorkers(supervisor, 2);
  writeBuild(dir, '1.1');
  const upgraded = await request(port, '/upgrade', { method: 'POST', headers: { authorization: 'Bearer test-token' } });
  expect(upgraded.status).toBe(200);
  const [, asker, next] = /^restart ok (\d+) -> (\d+)\n$/.exec(upgraded.body)?.map(Number) ?? [];
  expect(old).toContain(asker);
  const fresh = workerPids(supervisor.output()).slice(2);
  expect(fresh).toHaveLength(2);
  // The worker that asked is retired last; the newest worker took its place.
  expect(next).toBe(fresh[1]);
  for (const pid of old) await waitForExit(pid);
  expect((await request(port, '/version')).body).toMatch(/^1\.1 pid=/);
});
