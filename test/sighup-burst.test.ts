import path from 'node:path';
import { request } from './helpers/http';
import {
  FIXTURES,
  isAlive,
  killAll,
  readPid,
  startServer,
  tempDir,
  waitForPidFileChange,
  waitForPort,
} from './helpers/processes';
import {
  countMatches,
  DEPLOYED_ENV,
  exitOf,
  MARKER_VARIABLE,
  newMarker,
  sampleServicePids,
  servicePids,
  sleep,
  successorPidsFromLog,
  waitForOutput,
  writeBuild,
} from './helpers/service';

// Invariant 1: one reload at a time; a reload asked for during a reload does not start a third process.

afterEach(killAll);

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
    [MARKER_VARIABLE]: marker,
  });
  const port = await waitForPort(server);
  await waitForOutput(server, /serving on /);
  expect(readPid(pidFile)).toBe(server.pid);
  return { dir, pidFile, marker, server, port };
}

/** After the burst: one successor, serving, alone; the first generation exited 0; a further reload works. */
async function expectOneServingGeneration(
  svc: Awaited<ReturnType<typeof startService>>,
  sampler: ReturnType<typeof sampleServicePids>,
) {
  const { server, pidFile, port, marker, dir } = svc;
  const newPid = await waitForPidFileChange(pidFile, server.pid);
  expect(await exitOf(server)).toEqual({ code: 0, signal: null });
  const { max, seen } = sampler.stop();

  // Every log line of the first generation is in by now (it has exited); its successor got no signal.
  const output = server.output();
  expect(successorPidsFromLog(output)).toEqual([newPid]);
  expect(countMatches(output, /SIGHUP: reloading/)).toBe(1);
  expect(output).not.toMatch(new RegExp(`baton\\[${newPid}\\][^\\n]*SIGHUP`));
  expect(output).not.toMatch(/reload failed/);

  expect(servicePids(marker)).toEqual([newPid]);
  expect(isAlive(server.pid)).toBe(false);
  expect((await request(port, '/version')).body).toBe(`1.1 pid=${newPid}\n`);
  // Never a third process of this service (as far as sampling every few ms can tell).
  expect(max).toBeLessThanOrEqual(2);
  expect(seen).toEqual([server.pid, newPid].sort((a, b) => a - b));

  // Not wedged: the next SIGHUP, to the new generation, reloads once more.
  writeBuild(dir, '1.2');
  process.kill(newPid, 'SIGHUP');
  const thirdPid = await waitForPidFileChange(pidFile, newPid);
  expect((await request(port, '/version')).body).toBe(`1.2 pid=${thirdPid}\n`);
  expect(successorPidsFromLog(server.output())).toEqual([newPid, thirdPid]);
  await waitForOutput(server, new RegExp(`baton\\[${newPid}\\] drained in`));
}

describe.each(['express', 'koa'])('a burst of SIGHUPs on %s', (framework) => {
  test('10 SIGHUPs spread over less than 100 ms: one reload, the others are ignored, one generation serves at the end', async () => {
    const svc = await startService(framework);
    const sampler = sampleServicePids(svc.marker);
    writeBuild(svc.dir, '1.1');

    const started = Date.now();
    process.kill(svc.server.pid, 'SIGHUP');
    // Once the first one is being handled, the other nine cannot all merge into it in the kernel.
    await waitForOutput(svc.server, /SIGHUP: reloading/);
    for (let i = 1; i < 10; i += 1) {
      process.kill(svc.server.pid, 'SIGHUP');
      await sleep(Math.max(0, Math.min(8, started + 95 - Date.now())));
    }

    await expectOneServingGeneration(svc, sampler);
    // Each SIGHUP after the first was either ignored (reload in progress, or retiring) or merged
    // by the kernel with one still pending; at least one reached the process and was ignored.
    const ignored = countMatches(
      svc.server.output(),
      /baton\[\d+\] SIGHUP ignored: (a reload is already in progress|pid \d+ is retiring)/,
    );
    expect(ignored).toBeGreaterThanOrEqual(1);
    expect(ignored).toBeLessThanOrEqual(9);
  });

  test('10 SIGHUPs back to back: one reload, one generation serves at the end', async () => {
    const svc = await startService(framework);
    const sampler = sampleServicePids(svc.marker);
    writeBuild(svc.dir, '1.1');
    for (let i = 0; i < 10; i += 1) process.kill(svc.server.pid, 'SIGHUP');
    await expectOneServingGeneration(svc, sampler);
  });
});
