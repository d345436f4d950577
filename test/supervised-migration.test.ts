// Issue 13 under `baton run`: a rolling reload moves each idle keep-alive client connection from a
// retiring worker, through the supervisor, to a worker of the new generation. Clients keep their TCP
// connection (the server sees the same peer port) while the pid that answers changes with every
// reload. With BATON_MIGRATE_CONNECTIONS=0 the old workers drain politely and clients reconnect:
// the same check fails there, so it can fail here.
import http from 'node:http';
import path from 'node:path';
import { Client } from 'undici';
import { agentRequest, describeError, sleep } from './helpers/load';
import { request } from './helpers/http';
import { FIXTURES, isAlive, killAll, rememberPid, tempDir, waitForPort } from './helpers/processes';
import { baton, startSupervisor, waitForWorkers, workerPids } from './helpers/supervisor';

afterEach(killAll);

const APP = path.join(FIXTURES, 'migration-app.js');
const WORKERS = 2;

interface Answer {
  client: string;
  pid: number;
  peer: number;
  at: number;
}

interface Run {
  answers: Answer[];
  failures: Array<{ client: string; at: number; code: string; message: string }>;
  /** Worker pids per generation, oldest first. */
  generations: number[][];
  /** Per reload: connections each retired worker moved, as `baton reload --json` reported them. */
  movedPerReload: number[][];
  output: string;
}

function parse(body: string): { pid: number; peer: number } {
  const match = /^pid=(\d+) peer=(\d+)$/.exec(body);
  if (!match) throw Object.assign(new Error(`unexpected body ${JSON.stringify(body)}`), { code: 'BAD_RESPONSE' });
  return { pid: Number(match[1]), peer: Number(match[2]) };
}

/**
 * `baton run --workers 2` of migration-app.js; 4 undici Clients and 4 http.Agents (one connection
 * each, keep-alive, no retries) send requests without pause, one in four taking 30 ms to answer (so
 * some connections are busy when a reload starts), across `reloads` rolling reloads.
 */
async function rollingReloads(reloads: number, env: Record<string, string>): Promise<Run> {
  const control = path.join(tempDir(), 'ctl.sock');
  const supervisor = startSupervisor(
    ['--workers', String(WORKERS), '--control', control],
    { BATON_SETTLE_MS: '100', BATON_DRAIN_TIMEOUT_MS: '10000', ...env },
    [process.execPath, APP],
  );
  const port = await waitForPort(supervisor);
  const generations = [await waitForWorkers(supervisor, WORKERS)];
  const movedPerReload: number[][] = [];

  const t0 = Date.now();
  const answers: Answer[] = [];
  const failures: Run['failures'] = [];
  let stopped = false;
  const deadline = t0 + 45_000;
  const undiciClients = [1, 2, 3, 4].map(
    () => new Client(`http://127.0.0.1:${port}`, { pipelining: 1, keepAliveTimeout: 30_000 }),
  );
  const agents = [1, 2, 3, 4].map(() => new http.Agent({ keepAlive: true, maxSockets: 1 }));
  const drive = async (name: string, send: (pathname: string) => Promise<string>): Promise<void> => {
    for (let i = 0; !stopped && Date.now() < deadline; i += 1) {
      const pathname = i % 4 === 3 ? '/?ms=30' : '/';
      try {
        const { pid, peer } = parse(await send(pathname));
        answers.push({ client: name, pid, peer, at: Date.now() - t0 });
      } catch (error) {
        failures.push({ client: name, at: Date.now() - t0, ...describeError(error) });
      }
      await sleep(5);
    }
  };
  const clients = [
    ...undiciClients.map((client, n) =>
      drive(`undici-${n}`, async (pathname) => {
        const response = await client.request({ path: pathname, method: 'GET' });
        const body = await response.body.text();
        if (response.statusCode !== 200) throw new Error(`status ${response.statusCode}`);
        return body;
      }),
    ),
    ...agents.map((agent, n) =>
      drive(`agent-${n}`, async (pathname) => {
        const reply = await agentRequest(agent, port, pathname);
        if (reply.status !== 200) throw new Error(`status ${reply.status}`);
        return reply.body;
      }),
    ),
  ];

  try {
    // Every client has its connection before the first reload.
    await sleep(300);
    for (let r = 1; r <= reloads; r += 1) {
      const reload = await baton(['reload', '--control', control, '--json'], {}, 30_000);
      if (reload.code !== 0) throw new Error(`baton reload ${r} failed (${reload.code}): ${reload.stderr}`);
      const report = JSON.parse(reload.stdout) as { exited?: Array<{ moved?: number }> };
      movedPerReload.push((report.exited ?? []).map((e) => e.moved ?? 0));
      const pids = workerPids(supervisor.output());
      generations.push(pids.slice(r * WORKERS, (r + 1) * WORKERS));
      // Traffic on the new generation only, before the next reload.
      await sleep(300);
    }
  } finally {
    stopped = true;
    await Promise.all(clients);
    await Promise.all(undiciClients.map((c) => c.destroy()));
    for (const agent of agents) agent.destroy();
  }
  for (const pid of generations.flat()) rememberPid(pid);
  return { answers, failures, generations, movedPerReload, output: supervisor.output() };
}

function byClient(run: Run): Map<string, Answer[]> {
  const map = new Map<string, Answer[]>();
  for (const a of run.answers) map.set(a.client, [...(map.get(a.client) ?? []), a]);
  return map;
}

function summary(title: string, run: Run): string {
  const lines = [...byClient(run)].map(
    ([client, answers]) =>
      `  ${client}: ${answers.length} answers, peers ${[...new Set(answers.map((a) => a.peer))].join(' ')}, pids ${[
        ...new Set(answers.map((a) => a.pid)),
      ].join(' ')}`,
  );
  const moved = [...run.output.matchAll(/(\d+) connections? moved to other workers/g)].map((m) => Number(m[1]));
  return [
    `${title}: ${run.answers.length} requests, ${run.failures.length} failed; generations ${run.generations
      .map((g) => g.join('+'))
      .join(' -> ')}; moved per retired worker: ${moved.join(' ') || 'none reported'}`,
    ...lines,
    ...run.failures.slice(0, 10).map((f) => `  failed ${f.client} at ${f.at} ms: ${f.code} ${f.message}`),
  ].join('\n');
}

test('3 rolling reloads of 2 workers: every keep-alive client keeps its one connection while the workers behind it change', async () => {
  const run = await rollingReloads(3, {});
  process.stdout.write(`${summary('migration on', run)}\n`);
  expect(run.failures).toEqual([]);
  expect(run.generations.map((g) => g.length)).toEqual([2, 2, 2, 2]);
  const clients = byClient(run);
  expect(clients.size).toBe(8);
  for (const [client, answers] of clients) {
    // One TCP connection for the whole run: the server saw one peer port.
    expect({ client, peers: new Set(answers.map((a) => a.peer)).size }).toEqual({ client, peers: 1 });
    // ... served by each generation in turn, the last one included.
    const generationsSeen = run.generations.map((g) => answers.some((a) => g.includes(a.pid)));
    expect({ client, generationsSeen }).toEqual({ client, generationsSeen: [true, true, true, true] });
  }
  // The retiring workers said how many connections they handed on: all 8, at every reload.
  const moved = [...run.output.matchAll(/(\d+) connections? moved to other workers/g)].map((m) => Number(m[1]));
  expect(moved.reduce((a, b) => a + b, 0)).toBe(8 * 3);
  // ... and `baton reload` reported the same per retired worker: 8 in all at each reload.
  expect(run.movedPerReload.map((perWorker) => perWorker.reduce((a, b) => a + b, 0))).toEqual([8, 8, 8]);
  // The moves were spread: every new worker got some (both workers of the last generation answered).
  const lastPids = new Set(run.answers.map((a) => a.pid).filter((pid) => run.generations[3]?.includes(pid)));
  expect(lastPids.size).toBe(2);
}, 60_000);

test('BATON_MIGRATE_CONNECTIONS=0: the old workers drain politely, so clients reconnect at a reload', async () => {
  const run = await rollingReloads(1, { BATON_MIGRATE_CONNECTIONS: '0' });
  process.stdout.write(`${summary('migration off', run)}\n`);
  expect(run.failures).toEqual([]);
  for (const [client, answers] of byClient(run)) {
    expect({ client, peers: new Set(answers.map((a) => a.peer)).size }).toEqual({ client, peers: 2 });
  }
  expect(run.output).not.toMatch(/moved to other workers/);
}, 60_000);

test('new workers that die the moment a moved connection arrives: the supervisor lives on, no client is left waiting on a connection nobody reads, and replacements serve', async () => {
  const control = path.join(tempDir(), 'ctl.sock');
  // Every worker has it, but only the new ones get moved connections.
  const supervisor = startSupervisor(
    ['--workers', String(WORKERS), '--control', control],
    { BATON_SETTLE_MS: '100', DIE_ON_MOVED_CONNECTION: '1' },
    [process.execPath, APP],
  );
  const port = await waitForPort(supervisor);
  await waitForWorkers(supervisor, WORKERS);
  const agents = [1, 2, 3, 4].map(() => new http.Agent({ keepAlive: true, maxSockets: 1 }));
  let stopped = false;
  const errors: string[] = [];
  let answered = 0;
  const clients = agents.map(async (agent) => {
    while (!stopped) {
      try {
        parse((await agentRequest(agent, port, '/', { timeoutMs: 4000 })).body);
        answered += 1;
      } catch (error) {
        errors.push(describeError(error).code);
      }
      await sleep(5);
    }
  });
  try {
    await sleep(300);
    const reload = await baton(['reload', '--control', control], {}, 30_000);
    expect(reload.code).toBe(0);
    // The new workers die and are replaced; the clients reconnect to the replacements.
    await waitForWorkers(supervisor, WORKERS * 3);
    await sleep(500);
  } finally {
    stopped = true;
    await Promise.all(clients);
    for (const agent of agents) agent.destroy();
  }
  process.stdout.write(`dying receivers: ${answered} answered, errors ${errors.join(' ') || 'none'}\n`);
  // A connection lost with its worker fails fast (a reset); none hangs until the client gives up.
  expect(errors.filter((code) => code === 'TIMEOUT')).toEqual([]);
  expect(answered).toBeGreaterThan(0);
  expect(isAlive(supervisor.pid)).toBe(true);
  const served = parse((await request(port, '/')).body);
  expect(workerPids(supervisor.output()).slice(-WORKERS)).toContain(served.pid);
}, 30_000);
