// baton run --workers 2: during a rolling reload under load, `baton status` never shows fewer than 2
// ready workers. The new build takes a while to become ready, so the status polls see every step of
// the reload: new worker starting, old worker draining.
import http from 'node:http';
import path from 'node:path';
import { agentRequest, LoadRecorder, loop, parseIdentity, type Stop } from './helpers/load';
import { killAll, rememberPid, tempDir, waitForPort } from './helpers/processes';
import { sleep, writeBuild } from './helpers/service';
import { baton, startSupervisor, waitForWorkers, workerPids } from './helpers/supervisor';

afterEach(killAll);

interface StatusJson {
  phase: string;
  workers: { wanted: number; ready: number; starting: number; draining: number };
  generations: Array<{ pid: number; state: string }>;
}

interface Sample {
  at: number;
  phase: string;
  ready: number;
  starting: number;
  draining: number;
  generations: string;
}

test('a rolling reload of 2 workers under load never has fewer than 2 ready workers', async () => {
  const dir = tempDir();
  const control = path.join(dir, 'ctl.sock');
  writeBuild(dir, '1.0');
  // Only the next build (slow-ready) reads READY_DELAY_MS: each new worker is ready 1 s after it starts.
  // BATON_SETTLE_MS=0: old workers retire the moment the new ones are ready, with no rollback window
  // in between (the moment the count of ready workers could dip).
  const supervisor = startSupervisor(['--workers', '2', '--control', control], {
    BUILD_DIR: dir,
    READY_DELAY_MS: '1000',
    BATON_SETTLE_MS: '0',
  });
  const port = await waitForPort(supervisor);
  const oldWorkers = await waitForWorkers(supervisor, 2);

  // Load: keep-alive clients that never retry.
  const recorder = new LoadRecorder();
  const stop: Stop = { stopped: false, deadline: Date.now() + 30_000 };
  const agents = [1, 2, 3].map(() => new http.Agent({ keepAlive: true, maxSockets: 1 }));
  recorder.kind('keep-alive');
  const clients = agents.map((agent, i) =>
    loop(
      stop,
      5_000,
      async () => {
        const sentAt = recorder.now();
        try {
          const reply = await agentRequest(agent, port, '/version');
          const identity = parseIdentity(reply.body.trim());
          if (reply.status !== 200 || !identity)
            throw Object.assign(new Error(`status ${reply.status} body ${reply.body}`), { code: 'BAD_RESPONSE' });
          recorder.ok({
            kind: 'keep-alive',
            pid: identity.pid,
            version: identity.version,
            sentAt,
            close: reply.headers.connection === 'close',
          });
        } catch (error) {
          recorder.fail({ kind: 'keep-alive', worker: String(i), sentAt }, error);
        }
      },
      () => 10,
    ),
  );

  writeBuild(dir, '1.1', 'slow-ready');
  let reloadDone = false;
  const reloading = baton(['reload', '--control', control, '--json']).finally(() => (reloadDone = true));
  const samples: Sample[] = [];
  // Bounded by the reload itself and by the deadline: 2 workers × 1 s to ready, plus the drains.
  const pollUntil = Date.now() + 25_000;
  // Two pollers, staggered: one status call can take up to 2 s (a worker that exits while it is
  // asked does not answer), and the other keeps sampling meanwhile.
  const poll = async (): Promise<void> => {
    while (!reloadDone && Date.now() < pollUntil) {
      const result = await baton(['status', '--control', control, '--json'], {}, 10_000);
      if (result.code !== 0) throw new Error(`baton status failed (${result.code}): ${result.stderr}`);
      const s = JSON.parse(result.stdout) as StatusJson;
      for (const g of s.generations) rememberPid(g.pid);
      samples.push({
        at: recorder.now(),
        phase: s.phase,
        ...s.workers,
        generations: s.generations.map((g) => `${g.pid}:${g.state}`).join(' '),
      });
    }
  };
  await Promise.all([poll(), sleep(60).then(poll)]);
  const reload = await reloading;
  // A little more load, so the clients reach the new workers once the old ones have closed them.
  await sleep(300);
  stop.stopped = true;
  await Promise.all(clients);
  for (const agent of agents) agent.destroy();
  const outcome = JSON.parse(reload.stdout || '{}') as { pids?: number[] };
  for (const pid of outcome.pids ?? []) rememberPid(pid);
  workerPids(supervisor.output());

  const table = samples
    .sort((a, b) => a.at - b.at)
    .map(
      (s) => `  ${s.at} ms ${s.phase} ready ${s.ready} starting ${s.starting} draining ${s.draining}  ${s.generations}`,
    )
    .join('\n');
  process.stdout.write(`${recorder.summary('2 workers, 1 rolling reload')}\nstatus during the reload:\n${table}\n`);
  expect(reload.code).toBe(0);
  expect(outcome.pids).toHaveLength(2);
  // The polls really saw the reload in progress: a new worker starting while the old ones served.
  expect(samples.filter((s) => s.phase === 'reloading' && s.starting >= 1).length).toBeGreaterThanOrEqual(2);
  expect(samples.map((s) => s.ready).filter((ready) => ready < 2)).toEqual([]);

  expect(recorder.failures).toEqual([]);
  const versions = new Set(recorder.served.map((s) => s.version));
  expect(versions).toEqual(new Set(['1.0', '1.1']));
  expect(oldWorkers.every((pid) => !(outcome.pids ?? []).includes(pid))).toBe(true);
});
