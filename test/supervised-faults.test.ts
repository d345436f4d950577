// baton run at its worst moments: a rolling reload onto a build that dies 1 s after it is ready must
// fail (exit 1, with the reason) without costing the service any capacity, and `baton status` must
// say what is ready now (serving / degraded / down), with `--check` for scripts.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { Pool } from 'undici';
import { agentRequest, LoadRecorder, loop, parseIdentity, type Stop } from './helpers/load';
import { request } from './helpers/http';
import { FIXTURES, killAll, rememberPid, tempDir, waitFor, waitForPort } from './helpers/processes';
import { countMatches, sleep, waitForOutput, writeBuild } from './helpers/service';
import { baton, startSupervisor, waitForWorkers, workerPids } from './helpers/supervisor';
import { isAlive as cliIsAlive } from '../packages/core/src/cli/target';
import { reloadCommand } from '../packages/core/src/cli/reload';

afterEach(killAll);

const APP = path.join(FIXTURES, 'supervised-fault-app.js');

interface StatusJson {
  phase: string;
  health?: string;
  workers: { wanted: number; ready: number; starting: number; draining: number };
  generations: Array<{ pid: number; generation?: number; state: string }>;
  lastReload?: { ok: boolean; code?: string; message?: string };
}

async function status(control: string, extra: string[] = []): Promise<{ code: number | null; json: StatusJson }> {
  const result = await baton(['status', '--control', control, '--json', ...extra], {}, 15_000);
  if (result.code !== 0 && result.code !== 1) throw new Error(`baton status failed (${result.code}): ${result.stderr}`);
  const json = JSON.parse(result.stdout) as StatusJson;
  for (const g of json.generations) rememberPid(g.pid);
  return { code: result.code, json };
}

/** `count` requests on fresh connections: each reaches whichever worker accepts now. */
async function versionsNow(port: number, count: number): Promise<Array<{ version: string; pid: number }>> {
  const seen: Array<{ version: string; pid: number }> = [];
  for (let i = 0; i < count; i++) {
    const identity = parseIdentity((await request(port, '/version')).body.trim());
    if (identity) seen.push(identity);
  }
  return seen;
}

test('rolling reload of 3 workers onto a build that dies 1 s after ready: reload exits 1 with the reason, the old workers keep serving, capacity never drops', async () => {
  const dir = tempDir();
  const control = path.join(dir, 'ctl.sock');
  writeBuild(dir, '1.0');
  // A 4 s settle time: longer than the build lives after ready (1 s), as the default (5 s) is.
  const supervisor = startSupervisor(['--workers', '3', '--control', control, '--settle', '4s'], { BUILD_DIR: dir }, [
    process.execPath,
    APP,
  ]);
  const port = await waitForPort(supervisor);
  const oldWorkers = await waitForWorkers(supervisor, 3);

  // Keep-alive clients that never retry, plus one that opens a fresh connection for every request.
  const recorder = new LoadRecorder();
  recorder.watchOutput(supervisor.child.stderr);
  const stop: Stop = { stopped: false, deadline: Date.now() + 40_000 };
  const agents: http.Agent[] = [];
  const client = (kind: string, worker: number, agent: http.Agent | false): Promise<void> => {
    recorder.kind(kind);
    if (agent) agents.push(agent);
    let previousPid: number | undefined;
    return loop(
      stop,
      20_000,
      async () => {
        const sentAt = recorder.now();
        try {
          const reply = agent
            ? await agentRequest(agent, port, '/version')
            : { ...(await request(port, '/version')), reusedSocket: false };
          const identity = parseIdentity(reply.body.trim());
          if (reply.status !== 200 || !identity)
            throw Object.assign(new Error(`status ${reply.status} body ${reply.body}`), { code: 'BAD_RESPONSE' });
          recorder.ok({
            kind,
            pid: identity.pid,
            version: identity.version,
            sentAt,
            close: reply.headers.connection === 'close',
          });
          previousPid = identity.pid;
        } catch (error) {
          recorder.fail(
            {
              kind,
              worker: String(worker),
              sentAt,
              previousPid,
              reusedSocket: (error as { reusedSocket?: boolean }).reusedSocket,
            },
            error,
          );
        }
      },
      () => 5,
    );
  };
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 2 });
  recorder.kind('undici');
  const undiciClient = loop(
    stop,
    20_000,
    async () => {
      const sentAt = recorder.now();
      try {
        const reply = await pool.request({ path: '/version', method: 'GET' });
        const body = await reply.body.text();
        const identity = parseIdentity(body.trim());
        if (reply.statusCode !== 200 || !identity)
          throw Object.assign(new Error(`status ${reply.statusCode} body ${body}`), { code: 'BAD_RESPONSE' });
        recorder.ok({
          kind: 'undici',
          pid: identity.pid,
          version: identity.version,
          sentAt,
          close: reply.headers.connection === 'close',
        });
      } catch (error) {
        recorder.fail({ kind: 'undici', worker: '0', sentAt }, error);
      }
    },
    () => 5,
  );
  const clients = [
    ...[0, 1, 2, 3].map((i) => client('keep-alive', i, new http.Agent({ keepAlive: true, maxSockets: 1 }))),
    client('fresh', 0, false),
    undiciClient,
  ];

  await sleep(500);
  writeBuild(dir, '1.1', 'die-after-ready');
  let reloadDone = false;
  const reloading = baton(['reload', '--control', control], {}, 60_000).finally(() => (reloadDone = true));
  // Poll status while the reload runs: the ready count must never drop below 3.
  const samples: Array<{ at: number; ready: number; health?: string; generations: string }> = [];
  const pollUntil = Date.now() + 30_000;
  // Two pollers, staggered: one `baton status` takes a while on a busy machine; the other samples meanwhile.
  const poll = async (): Promise<void> => {
    while (!reloadDone && Date.now() < pollUntil) {
      const s = (await status(control)).json;
      samples.push({
        at: recorder.now(),
        ready: s.workers.ready,
        ...(s.health ? { health: s.health } : {}),
        generations: s.generations.map((g) => `${g.pid}:${g.generation}:${g.state}`).join(' '),
      });
    }
  };
  await Promise.all([poll(), sleep(150).then(poll)]);
  samples.sort((x, y) => x.at - y.at);
  const reload = await reloading;
  const failedAt = recorder.now();
  workerPids(supervisor.output());

  // Right after the failed reload, and a couple of seconds later: 3 ready workers, all of the old build.
  const right = await status(control, ['--check']);
  const rightVersions = await versionsNow(port, 6);
  await sleep(2500);
  const later = await status(control, ['--check']);
  const laterVersions = await versionsNow(port, 6);
  stop.stopped = true;
  await Promise.all(clients);
  for (const agent of agents) agent.destroy();
  await pool.close();

  const table = samples.map((s) => `  ${s.at} ms ready ${s.ready} ${s.health ?? '-'}  ${s.generations}`).join('\n');
  process.stdout.write(
    `${recorder.summary('3 workers, reload onto a build that dies 1 s after ready')}\nreload (exit ${reload.code}) at ${failedAt} ms:\n${reload.stdout}${reload.stderr}\nstatus during the reload:\n${table}\n`,
  );

  // The reload says it failed, once, with the code and the reason.
  expect(reload.code).toBe(1);
  expect(reload.stderr).toMatch(
    /reload failed \(ERR_BATON_ROLLED_BACK\): new worker pid \d+ exited with code 1 .*; the old workers keep serving/,
  );
  expect(countMatches(`${reload.stdout}${reload.stderr}`, /reload failed/)).toBe(1);
  expect(supervisor.output()).toMatch(/error: reload failed: new worker pid \d+ exited with code 1/);

  // Capacity never dropped: every sample during the reload saw at least 3 ready workers.
  expect(samples.length).toBeGreaterThan(0);
  expect(samples.filter((s) => s.ready < 3)).toEqual([]);
  // Afterwards: the same three old workers, serving the old build; --check says serving.
  for (const after of [right, later]) {
    expect(after.code).toBe(0);
    expect(after.json).toMatchObject({
      health: 'serving',
      workers: { wanted: 3, ready: 3 },
      lastReload: { ok: false, code: 'ERR_BATON_ROLLED_BACK' },
    });
    expect(
      after.json.generations
        .filter((g) => g.state === 'ready')
        .map((g) => g.pid)
        .sort(),
    ).toEqual([...oldWorkers].sort());
  }
  for (const seen of [rightVersions, laterVersions]) {
    expect(seen).toHaveLength(6);
    expect(seen.every((s) => s.version === '1.0' && oldWorkers.includes(s.pid))).toBe(true);
  }
  // Nobody was refused: the supervisor held the socket throughout. (Requests on connections the
  // dying build had accepted can be reset: that is the crash itself, and the summary lists them.)
  expect(recorder.failures.filter((f) => /ECONNREFUSED/.test(f.code))).toEqual([]);
  expect(recorder.served.filter((s) => s.sentAt > failedAt + 2000).every((s) => s.version === '1.0')).toBe(true);
  expect(recorder.served.length).toBeGreaterThan(100);
});

test('status --check: a crash loop is degraded, then down, not serving', async () => {
  const dir = tempDir();
  const control = path.join(dir, 'ctl.sock');
  writeBuild(dir, '1.0');
  const supervisor = startSupervisor(['--workers', '2', '--control', control], { BUILD_DIR: dir }, [
    process.execPath,
    APP,
  ]);
  const port = await waitForPort(supervisor);
  await waitForWorkers(supervisor, 2);
  const serving = await status(control, ['--check']);
  expect(serving.code).toBe(0);
  expect(serving.json).toMatchObject({ phase: 'serving', health: 'serving', workers: { wanted: 2, ready: 2 } });

  // The build on disk is now broken: every replacement throws at start-up and is never ready.
  writeBuild(dir, '1.1', 'throw');
  expect((await request(port, '/crash')).body).toMatch(/crashing/);
  await waitForOutput(supervisor, /exited with code 1 while serving; starting a replacement/);
  const degraded = await status(control, ['--check']);
  expect(degraded.code).toBe(1);
  expect(degraded.json).toMatchObject({ health: 'degraded', workers: { wanted: 2, ready: 1 } });

  expect((await request(port, '/crash')).body).toMatch(/crashing/);
  await waitForOutput(supervisor, /exited with code 1 while serving; starting a replacement/, 2);
  const down = await status(control, ['--check']);
  expect(down.code).toBe(1);
  expect(down.json).toMatchObject({ phase: 'down', health: 'down', workers: { wanted: 2, ready: 0 } });
  const text = await baton(['status', '--control', control, '--check'], {}, 15_000);
  expect(text.code).toBe(1);
  expect(text.stdout).toMatch(/^supervised: supervisor pid \d+, DOWN \(0 of 2 ready\), up /);
  // Without --check the answer itself is the success: exit 0, and it still says down.
  expect((await baton(['status', '--control', control], {}, 15_000)).code).toBe(0);
});

test('baton reload counts an exited, unreaped process (a zombie) as gone, not as still draining', async () => {
  // sh starts a short child, then execs a sleep that never waits for it: the child stays a zombie.
  const parent = spawn('sh', ['-c', 'sleep 0.1 & exec sleep 30'], { stdio: 'ignore' });
  rememberPid(parent.pid);
  const zombie = await waitFor('the zombie child', () => {
    const children = fs
      .readFileSync(`/proc/${parent.pid}/task/${parent.pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
    const pid = children[0];
    if (pid === undefined) return undefined;
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z') ? pid : undefined;
  });
  // kill(pid, 0) still succeeds on it: that is what made `baton reload` wait for it.
  expect(() => process.kill(zombie, 0)).not.toThrow();
  expect(cliIsAlive(zombie)).toBe(false);
  expect(cliIsAlive(parent.pid as number)).toBe(true);
  parent.kill('SIGKILL');
});

/**
 * A control socket that answers a reload with the given lines, then closes: what `baton reload`
 * prints for them, in-process (the real client, the real socket, no service behind it).
 */
async function reloadAgainst(lines: object[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const socketPath = path.join(tempDir(), 'ctl.sock');
  const server = net.createServer((socket) => {
    socket.once('data', () => socket.end(lines.map((line) => `${JSON.stringify(line)}\n`).join('')));
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  const stdout: string[] = [];
  const stderr: string[] = [];
  try {
    const code = await reloadCommand(
      { control: socketPath, timeout: 60_000 },
      { stdout: (l) => void stdout.push(l), stderr: (l) => void stderr.push(l) },
    );
    return { code, stdout: stdout.join('\n'), stderr: stderr.join('\n') };
  } finally {
    server.close();
  }
}

test('baton reload says "reload failed" once, with the code, keeping what the process logged', async () => {
  const reason =
    'new worker pid 4711 exited with code 1 1003 ms after it was ready (settle time 5000 ms); the old workers keep serving';
  const supervised = await reloadAgainst([
    { type: 'progress', event: 'worker-ready', message: 'worker 4711 ready in 80 ms (generation 2)', pid: 4000 },
    { type: 'progress', event: 'reload-failed', message: `reload failed: ${reason}`, pid: 4000 },
    { type: 'result', ok: false, error: { code: 'ERR_BATON_CHILD_EXITED', message: reason } },
  ]);
  expect(supervised.code).toBe(1);
  expect(countMatches(`${supervised.stdout}\n${supervised.stderr}`, /reload failed/)).toBe(1);
  expect(supervised.stderr).toBe(`reload failed (ERR_BATON_CHILD_EXITED): ${reason}`);
  expect(supervised.stdout).toContain('worker 4711 ready in 80 ms');

  // In place the log line says more than the error; it is kept, once.
  const inPlace = await reloadAgainst([
    {
      type: 'progress',
      event: 'reload-failed',
      message:
        'reload failed, still serving as pid 4000: next generation pid 4712 exited with code 1 before it was ready',
      pid: 4000,
    },
    {
      type: 'result',
      ok: false,
      error: {
        code: 'ERR_BATON_CHILD_EXITED',
        message: 'next generation pid 4712 exited with code 1 before it was ready',
      },
    },
  ]);
  expect(inPlace.stderr).toBe(
    'reload failed (ERR_BATON_CHILD_EXITED), still serving as pid 4000: next generation pid 4712 exited with code 1 before it was ready',
  );
  expect(countMatches(`${inPlace.stdout}\n${inPlace.stderr}`, /reload failed/)).toBe(1);
});

test('baton reload prints how long it waited for a process still draining, not its --timeout', async () => {
  // The answer names a previous pid that is still running (this test process), and the connection
  // closes at once: the report must say how long it actually waited.
  const result = await reloadAgainst([
    {
      type: 'result',
      ok: true,
      reload: {
        mode: 'supervised',
        pids: [4712],
        previousPids: [process.pid],
        readyMs: 80,
        durationMs: 120,
        draining: [{ pid: process.pid }],
      },
    },
  ]);
  expect(result.code).toBe(0);
  expect(result.stdout).toMatch(new RegExp(`still draining after \\d+(\\.\\d)? (ms|s): ${process.pid} `));
  expect(result.stdout).not.toContain('60.0 s');
});
