// `baton reload` waits for the outcome and says it: exit 0 with the new pids, non-zero with the
// reason when the new build is broken (the old workers keep serving and the next reload works).
import path from 'node:path';
import { request } from './helpers/http';
import {
  isAlive,
  killAll,
  readPid,
  rememberPid,
  startServer,
  tempDir,
  waitFor,
  waitForExit,
  waitForPort,
} from './helpers/processes';
import { DEPLOYED_ENV, successorPidsFromLog, waitForOutput, writeBuild } from './helpers/service';
import { APP, baton, startSupervisor, waitForWorkers } from './helpers/supervisor';

afterEach(killAll);

describe('baton reload against baton run', () => {
  test('reports the new worker, fails with the reason on a broken build, and works again after it', async () => {
    const dir = tempDir();
    const pidFile = path.join(dir, 'app.pid');
    writeBuild(dir, '1.0');
    const supervisor = startSupervisor(['--pid-file', pidFile, '--ready-timeout', '5s'], { BUILD_DIR: dir });
    const port = await waitForPort(supervisor);
    const [first] = await waitForWorkers(supervisor, 1);

    writeBuild(dir, '1.1');
    const ok = await baton(['reload', '--pid-file', pidFile]);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    const [, second] = await waitForWorkers(supervisor, 2);
    expect(ok.stdout).toContain(`reload ok: ${first} -> ${second}`);
    expect(ok.stdout).toMatch(new RegExp(`pid ${first} exited`));
    expect((await request(port, '/version')).body).toBe(`1.1 pid=${second}\n`);

    // A build that throws at start-up: the reload fails, says why, and 1.1 keeps serving.
    writeBuild(dir, '1.2', 'throw');
    const broken = await baton(['reload', '--pid-file', pidFile, '--json']);
    expect(broken.code).toBe(1);
    const report = JSON.parse(broken.stdout) as { ok: boolean; error: { code: string; message: string } };
    expect(report.ok).toBe(false);
    expect(report.error.code).toBe('ERR_BATON_CHILD_EXITED');
    expect(report.error.message).toMatch(/exited with code 1 before it was ready.*old workers keep serving/);
    expect(broken.stderr).toMatch(/reload failed \(ERR_BATON_CHILD_EXITED\)/);
    expect((await request(port, '/version')).body).toBe(`1.1 pid=${second}\n`);

    // A build that never becomes ready: killed at the ready timeout, same outcome.
    writeBuild(dir, '1.3', 'never-ready');
    const stuck = await baton(['reload', '--control', `${pidFile}.sock`]);
    expect(stuck.code).toBe(1);
    expect(stuck.stderr).toMatch(/ERR_BATON_READY_TIMEOUT.*not ready after 5000 ms/);
    expect((await request(port, '/version')).body).toBe(`1.1 pid=${second}\n`);

    // The next reload works.
    writeBuild(dir, '1.4');
    const again = await baton(['reload', '--pid-file', pidFile, '--json']);
    expect(again.code).toBe(0);
    const result = JSON.parse(again.stdout) as {
      ok: boolean;
      mode: string;
      pids: number[];
      previousPids: number[];
      readyMs: number;
    };
    rememberPid(result.pids[0]);
    expect(result).toMatchObject({ ok: true, mode: 'supervised', previousPids: [second] });
    expect((await request(port, '/version')).body).toBe(`1.4 pid=${result.pids[0]}\n`);
    expect(readPid(pidFile)).toBe(supervisor.pid);

    const status = await baton(['status', '--pid-file', pidFile, '--json']);
    expect(JSON.parse(status.stdout).lastReload).toMatchObject({ ok: true, pids: result.pids });
  });
});

test('--pid-file of a supervisor without a control socket: SIGHUP, then watch its workers being replaced', async () => {
  const dir = tempDir();
  const pidFile = path.join(dir, 'app.pid');
  writeBuild(dir, '1.0');
  // The control socket is elsewhere, so nothing exists at <pid file>.sock.
  const supervisor = startSupervisor(['--pid-file', pidFile, '--control', path.join(dir, 'other.sock')], {
    BUILD_DIR: dir,
  });
  const port = await waitForPort(supervisor);
  const [first] = await waitForWorkers(supervisor, 1);
  writeBuild(dir, '1.1');
  const ok = await baton(['reload', '--pid-file', pidFile]);
  expect(ok.code).toBe(0);
  const [, second] = await waitForWorkers(supervisor, 2);
  expect(ok.stdout).toContain(`sent SIGHUP to supervisor pid ${supervisor.pid}`);
  expect(ok.stdout).toContain(`reload ok: ${first} -> ${second}`);
  expect((await request(port, '/version')).body).toBe(`1.1 pid=${second}\n`);
});

describe('baton reload against an in-place process', () => {
  test('--pid-file only: SIGHUP, then watch the pid file change and the old pid exit', async () => {
    const dir = tempDir();
    const pidFile = path.join(dir, 's.pid');
    writeBuild(dir, '1.0');
    const server = startServer(APP, {
      BUILD_DIR: dir,
      BATON_PID_FILE: pidFile,
      BATON_READY_TIMEOUT_MS: '3000',
      ...DEPLOYED_ENV,
    });
    const port = await waitForPort(server);
    // Ready (and so the pid file written) comes one turn after the listening callback.
    await waitFor('the pid file', () => readPid(pidFile) === server.pid);
    writeBuild(dir, '1.1');
    const ok = await baton(['reload', '--pid-file', pidFile]);
    expect(ok.code).toBe(0);
    const newPid = readPid(pidFile) as number;
    rememberPid(newPid);
    expect(ok.stdout).toContain(`reload ok: ${server.pid} -> ${newPid}`);
    expect(isAlive(server.pid)).toBe(false);
    expect((await request(port, '/version')).body).toBe(`1.1 pid=${newPid}\n`);

    // A broken build: the pid file never changes; baton says so when its timeout runs out.
    writeBuild(dir, '1.2', 'never-ready');
    const stuck = await baton(['reload', '--pid-file', pidFile, '--timeout', '2s']);
    successorPidsFromLog(server.output());
    expect(stuck.code).toBe(1);
    expect(stuck.stderr).toMatch(new RegExp(`still names pid ${newPid} after 2.0 s`));
    // The stuck successor shares the socket until its ready timeout (3 s) kills it: wait for that.
    await waitForOutput(server, /reload failed, still serving/);
    expect((await request(port, '/version')).body).toBe(`1.1 pid=${newPid}\n`);
  });

  test('--control: the process reports the real outcome, and the socket survives the handover', async () => {
    const dir = tempDir();
    const control = path.join(dir, 'baton.sock');
    writeBuild(dir, '1.0');
    const server = startServer(APP, {
      BUILD_DIR: dir,
      BATON_CONTROL: control,
      BATON_READY_TIMEOUT_MS: '3000',
      ...DEPLOYED_ENV,
    });
    const port = await waitForPort(server);

    writeBuild(dir, '1.1');
    const first = await baton(['reload', '--control', control, '--json']);
    expect(first.code).toBe(0);
    const outcome = JSON.parse(first.stdout) as { mode: string; pids: number[]; previousPids: number[] };
    rememberPid(outcome.pids[0]);
    expect(outcome).toMatchObject({ mode: 'in-place', previousPids: [server.pid] });
    // The command returned once the old generation had gone.
    expect(isAlive(server.pid)).toBe(false);
    expect((await request(port, '/version')).body).toBe(`1.1 pid=${outcome.pids[0]}\n`);

    // The successor adopted the control socket: status and a failed reload go through it.
    const status = await baton(['status', '--control', control, '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({ mode: 'in-place', pid: outcome.pids[0], workers: { ready: 1 } });
    writeBuild(dir, '1.2', 'exit0');
    const broken = await baton(['reload', '--control', control]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/ERR_BATON_CHILD_EXITED/);
    writeBuild(dir, '1.3');
    const again = await baton(['reload', '--control', control]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(new RegExp(`reload ok: ${outcome.pids[0]} -> \\d+`));
    rememberPid(Number(/-> (\d+)/.exec(again.stdout)?.[1]));
    await waitForExit(outcome.pids[0] as number);
  });
});
