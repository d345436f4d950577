// baton run with several workers: rolling reloads under keep-alive load lose nothing, a crashed
// worker is replaced (with backoff when it keeps crashing), status counts what is there, and
// SIGTERM drains everything and leaves no process behind.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Pool } from 'undici';
import { agentRequest, LoadRecorder, loop, parseIdentity, type Stop } from './helpers/load';
import { request } from './helpers/http';
import { isAlive, killAll, rememberPid, tempDir, waitFor, waitForExit, waitForPort } from './helpers/processes';
import { countMatches, freePort, servicePids, sleep, waitForOutput, writeBuild } from './helpers/service';
import { baton, startSupervisor, waitForWorkers, workerPids } from './helpers/supervisor';

afterEach(killAll);

interface StatusJson {
  mode: string;
  pid: number;
  workers: { wanted: number; ready: number; starting: number; draining: number };
  generations: Array<{ pid: number; generation: number; state: string; connections?: { activeRequests: number } }>;
  connections: { sockets: number; activeRequests: number; idle: number; upgraded: number };
  restarts: number;
}

async function status(control: string): Promise<StatusJson> {
  const result = await baton(['status', '--control', control, '--json']);
  if (result.code !== 0) throw new Error(`baton status failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as StatusJson;
}

test('rolling reloads of 2 workers under keep-alive load lose zero requests', async () => {
  const dir = tempDir();
  const control = path.join(dir, 'ctl.sock');
  writeBuild(dir, '1.0');
  const supervisor = startSupervisor(['--workers', '2', '--control', control], { BUILD_DIR: dir });
  const port = await waitForPort(supervisor);
  await waitForWorkers(supervisor, 2);

  const recorder = new LoadRecorder();
  recorder.watchOutput(supervisor.child.stderr);
  const stop: Stop = { stopped: false, deadline: Date.now() + 60_000 };
  const agents: http.Agent[] = [];
  const client = (kind: string, worker: number, pathname: string): Promise<void> => {
    recorder.kind(kind);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    return loop(stop, 20_000, async () => {
      const sentAt = recorder.now();
      try {
        const reply = await agentRequest(agent, port, pathname);
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
      } catch (error) {
        recorder.fail(
          { kind, worker: String(worker), sentAt, reusedSocket: (error as { reusedSocket?: boolean }).reusedSocket },
          error,
        );
      }
    });
  };
  // undici keeps its sockets alive too, and never retries here.
  const pools: Pool[] = [];
  const undiciClient = (worker: number): Promise<void> => {
    recorder.kind('undici');
    const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 2 });
    pools.push(pool);
    return loop(stop, 20_000, async () => {
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
        recorder.fail({ kind: 'undici', worker: String(worker), sentAt }, error);
      }
    });
  };
  const clients = [
    ...Array.from({ length: 6 }, (_, i) => client('keep-alive', i, '/version')),
    ...Array.from({ length: 2 }, (_, i) => client('slow', i, '/slow?ms=300')),
    ...Array.from({ length: 2 }, (_, i) => undiciClient(i)),
  ];

  const reloads: Array<{ code: number | null; stdout: string }> = [];
  for (let i = 1; i <= 3; i++) {
    await sleep(700);
    writeBuild(dir, `1.${i}`);
    const result = await baton(['reload', '--control', control, '--json']);
    reloads.push(result);
    const outcome = JSON.parse(result.stdout) as { pids: number[] };
    for (const pid of outcome.pids ?? []) rememberPid(pid);
  }
  await sleep(700);
  stop.stopped = true;
  await Promise.all(clients);
  for (const agent of agents) agent.destroy();
  await Promise.all(pools.map((pool) => pool.close()));

  const summary = recorder.summary('2 workers, 3 rolling reloads');
  process.stdout.write(`${summary}\n`);
  expect(reloads.map((r) => r.code)).toEqual([0, 0, 0]);
  expect(recorder.failures).toEqual([]);
  const versions = new Set(recorder.served.map((s) => s.version));
  expect([...versions].sort()).toEqual(['1.0', '1.1', '1.2', '1.3']);
  expect(recorder.served.length).toBeGreaterThan(100);
  // Never fewer than 2 ready: 2 + 3 × 2 workers were started, and 2 serve at the end.
  expect(workerPids(supervisor.output())).toHaveLength(8);
  expect((await status(control)).workers).toMatchObject({ wanted: 2, ready: 2 });
});

test('status counts workers and connections; a draining worker shows as draining', async () => {
  const dir = tempDir();
  const control = path.join(dir, 'ctl.sock');
  writeBuild(dir, '1.0');
  // BATON_SETTLE_MS=0: the old workers retire as soon as the new ones are ready (no rollback window).
  const supervisor = startSupervisor(['--workers', '2', '--control', control], {
    BUILD_DIR: dir,
    BATON_SETTLE_MS: '0',
  });
  const port = await waitForPort(supervisor);
  const [a, b] = await waitForWorkers(supervisor, 2);

  // 3 idle keep-alive sockets and 1 request in flight.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 3 });
  await Promise.all([1, 2, 3].map(() => agentRequest(agent, port, '/version')));
  // Long enough to be in flight still when its worker is retired, however slowly the new ones start.
  let slowAnswered = false;
  const slow = request(port, '/slow?ms=8000').finally(() => (slowAnswered = true));
  await waitFor('the slow request to arrive', async () => (await status(control)).connections.activeRequests === 1);
  const before = await status(control);
  expect(before).toMatchObject({
    mode: 'supervised',
    pid: supervisor.pid,
    workers: { wanted: 2, ready: 2, starting: 0, draining: 0 },
    connections: { sockets: 4, activeRequests: 1, idle: 3, upgraded: 0 },
    restarts: 0,
  });
  expect(before.generations.map((g) => g.pid).sort()).toEqual([a, b].sort());
  const holder = before.generations.find((g) => g.connections?.activeRequests === 1)?.pid;
  expect([a, b]).toContain(holder);
  agent.destroy();

  // A reload while the slow request runs: its worker drains until it has answered.
  const reloading = baton(['reload', '--control', control]);
  const during = await waitFor(`worker ${holder}, which holds the slow request, to show as draining`, async () => {
    const s = await status(control);
    for (const g of s.generations) rememberPid(g.pid);
    return s.generations.some((g) => g.pid === holder && g.state === 'draining') ? s : undefined;
  });
  const shown = during.generations.find((g) => g.pid === holder);
  // Shown as draining while it still owes the answer, with that request counted; not counted as ready.
  expect(slowAnswered).toBe(false);
  expect(shown?.connections?.activeRequests).toBe(1);
  expect(during.connections.activeRequests).toBeGreaterThanOrEqual(1);
  expect(during.workers.ready).toBe(2);
  expect(during.generations.filter((g) => g.state === 'ready').map((g) => g.pid)).not.toContain(holder);
  // And it is the draining worker that answers.
  const reply = await slow;
  expect(reply.status).toBe(200);
  expect(reply.body).toBe(`1.0 pid=${holder}\n`);
  expect((await reloading).code).toBe(0);
  workerPids(supervisor.output());
});

test('a worker killed with SIGKILL is replaced; a crash loop backs off; requests wait in the backlog meanwhile', async () => {
  const dir = tempDir();
  const control = path.join(dir, 'ctl.sock');
  writeBuild(dir, '1.0');
  const supervisor = startSupervisor(['--control', control, '--ready-timeout', '5s'], { BUILD_DIR: dir });
  const port = await waitForPort(supervisor);
  const [first] = await waitForWorkers(supervisor, 1);

  process.kill(first as number, 'SIGKILL');
  // The supervisor still holds the socket: this connection waits for the replacement, it is not refused.
  const reply = await request(port, '/version');
  const [, second] = await waitForWorkers(supervisor, 2);
  expect(reply.body).toBe(`1.0 pid=${second}\n`);
  expect(supervisor.output()).toMatch(
    new RegExp(`worker ${first} killed by SIGKILL while serving; starting a replacement in \\d+ ms`),
  );
  expect((await status(control)).restarts).toBe(1);

  // Now the build on disk is broken and the worker dies again: each attempt waits longer than the last.
  writeBuild(dir, '1.1', 'throw');
  process.kill(second as number, 'SIGKILL');
  const output = await waitForOutput(supervisor, /exited with code 1 before it was ready; trying again in \d+ ms/, 3);
  const delays = [...output.matchAll(/(?:starting a replacement|trying again) in (\d+) ms/g)].map((m) => Number(m[1]));
  expect(delays.length).toBeGreaterThanOrEqual(4);
  for (let i = 2; i < delays.length; i++) expect(delays[i]).toBeGreaterThan(delays[i - 1] as number);
  expect(isAlive(supervisor.pid)).toBe(true);

  // A good build again: the next attempt succeeds.
  writeBuild(dir, '1.2');
  const [, , third] = await waitForWorkers(supervisor, 3);
  expect((await request(port, '/version')).body).toBe(`1.2 pid=${third}\n`);
});

test('a worker signalled directly with SIGTERM drains, and a replacement starts at once', async () => {
  const dir = tempDir();
  const control = path.join(dir, 'ctl.sock');
  writeBuild(dir, '1.0');
  const supervisor = startSupervisor(['--control', control], { BUILD_DIR: dir });
  const port = await waitForPort(supervisor);
  const [first] = await waitForWorkers(supervisor, 1);
  // A slow request keeps the first worker draining while its replacement already serves.
  const slow = request(port, '/slow?ms=2000');
  await waitFor('the slow request to arrive', async () => (await status(control)).connections.activeRequests === 1);
  process.kill(first as number, 'SIGTERM');
  const [, second] = await waitForWorkers(supervisor, 2);
  expect(isAlive(first as number)).toBe(true);
  expect((await request(port, '/version')).body).toBe(`1.0 pid=${second}\n`);
  expect(supervisor.output()).toContain(`worker ${first} is draining on its own`);
  expect((await slow).body).toBe(`1.0 pid=${first}\n`);
  await waitForExit(first as number);
  expect((await status(control)).restarts).toBe(0);
});

test('a build that stops listening on an address: the supervisor lets go of it, so clients are refused, not left hanging', async () => {
  const dir = tempDir();
  const app = path.join(dir, 'moving.js');
  // The port comes from the build on disk, read at start-up like the fixture's version.
  fs.writeFileSync(
    app,
    `const { listen } = require(${JSON.stringify(require.resolve('@baton/core'))});
const http = require('node:http');
const { port } = JSON.parse(require('node:fs').readFileSync(${JSON.stringify(path.join(dir, 'port.json'))}, 'utf8'));
const server = listen(http.createServer((q, s) => s.end(process.pid + '\\n')), port, '127.0.0.1', () => console.log('listening ' + server.address().port));
`,
  );
  fs.writeFileSync(path.join(dir, 'port.json'), JSON.stringify({ port: 0 }));
  const supervisor = startSupervisor([], {}, [process.execPath, app]);
  const oldPort = await waitForPort(supervisor);
  await waitForWorkers(supervisor, 1);
  const newPort = await freePort();
  fs.writeFileSync(path.join(dir, 'port.json'), JSON.stringify({ port: newPort }));
  process.kill(supervisor.pid, 'SIGHUP');
  const [, second] = await waitForWorkers(supervisor, 2);
  await waitForOutput(supervisor, /no longer listens on tcp:127\.0\.0\.1:0: closed/);
  expect((await request(newPort, '/')).body).toBe(`${second}\n`);
  await waitForOutput(supervisor, /exited with code 0 after draining/);
  await expect(request(oldPort, '/')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
});

test('SIGTERM to the supervisor lets an in-flight request finish, exits 0 and leaves no process', async () => {
  const dir = tempDir();
  writeBuild(dir, '1.0');
  const supervisor = startSupervisor(['--workers', '2'], { BUILD_DIR: dir });
  const port = await waitForPort(supervisor);
  const workers = await waitForWorkers(supervisor, 2);
  const slow = request(port, '/slow?ms=1500');
  await sleep(300);
  process.kill(supervisor.pid, 'SIGTERM');
  const reply = await slow;
  expect(reply.status).toBe(200);
  expect(reply.headers.connection).toBe('close');
  expect(await supervisor.exited).toEqual({ code: 0, signal: null });
  for (const pid of workers) await waitForExit(pid);
  expect(servicePids(supervisor.marker)).toEqual([]);
  expect(countMatches(supervisor.output(), /every worker has exited; supervisor exiting/)).toBe(1);
});
