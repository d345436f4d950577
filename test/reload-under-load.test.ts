// The central claim: reload a server several times while real keep-alive clients hammer it, and no
// client anywhere sees an error. Every client kind below talks to 127.0.0.1 only, never retries, and
// every loop is bounded in count and in time.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Client, Pool } from 'undici';
import {
  identityOf,
  LoadRecorder,
  loop,
  seededRandom,
  sleep,
  streamIdentity,
  uploadIdentity,
  viaAgent,
  viaUndici,
  type Outcome,
  type Stop,
} from './helpers/load';
import {
  FIXTURES,
  isAlive,
  killAll,
  readPid,
  rememberPid,
  startServer,
  tempDir,
  waitFor,
  waitForPidFileChange,
  waitForPort,
} from './helpers/processes';

afterEach(killAll);

const UPLOAD = Buffer.alloc(256 * 1024, 0x61);
const SLOW_MS = 2500;

function newBuild(dir: string, version: string): void {
  fs.writeFileSync(path.join(dir, 'build.json'), JSON.stringify({ version, behavior: 'ok' }));
}

interface Scenario {
  framework: string;
  reloads: number;
  /** How long each new generation serves alone before the next SIGHUP. */
  intervalMs: number;
}

// For a longer soak by hand: RELOAD_UNDER_LOAD_RELOADS=30 npx jest test/reload-under-load.test.ts
// (RELOAD_UNDER_LOAD_LOG=1 also prints every server log line, time-stamped, when all went well).
const soakReloads = Number(process.env.RELOAD_UNDER_LOAD_RELOADS ?? 0);

describe.each<Scenario>([
  { framework: 'express', reloads: soakReloads || 5, intervalMs: 1500 },
  { framework: 'koa', reloads: soakReloads || 3, intervalMs: 1500 },
])('reload under load on $framework', ({ framework, reloads, intervalMs }) => {
  test(
    `${reloads} reloads under keep-alive load: no client sees an error, every generation serves`,
    async () => {
      const dir = tempDir();
      const pidFile = path.join(dir, 'app.pid');
      newBuild(dir, '1.0');
      const rec = new LoadRecorder();
      const server = startServer(path.join(FIXTURES, 'app.js'), {
        FRAMEWORK: framework,
        BUILD_DIR: dir,
        BATON_PID_FILE: pidFile,
        BATON_LOG: 'debug',
      });
      rec.watchOutput(server.child.stdout);
      // Every successor is remembered as soon as it is spawned, so teardown kills it even if it never got ready.
      rec.watchOutput(server.child.stderr, (line) => {
        const spawned = /next generation is pid (\d+)/.exec(line);
        if (spawned) rememberPid(Number(spawned[1]));
      });
      const port = await waitForPort(server);
      const origin = `http://127.0.0.1:${port}`;
      /** pid -> the version it must answer with, in generation order. */
      const generations: Array<{ pid: number; version: string; readyAt: number }> = [
        { pid: server.pid, version: '1.0', readyAt: rec.now() },
      ];

      // Nothing here retries: undici's Pool/Client have no retry interceptor unless one is composed in,
      // and http.Agent never retries (a reset on a reused socket surfaces as ECONNRESET).
      const pools = {
        version: new Pool(origin, { connections: 4 }),
        upload: new Pool(origin, { connections: 2 }),
        stream: new Pool(origin, { connections: 2 }),
        slow: new Pool(origin, { connections: 3 }),
      };
      const idleClients = [1, 2, 3].map(() => new Client(origin));
      const agents = {
        version: new http.Agent({ keepAlive: true, maxSockets: 4 }),
        upload: new http.Agent({ keepAlive: true, maxSockets: 2 }),
        stream: new http.Agent({ keepAlive: true, maxSockets: 2 }),
        slow: new http.Agent({ keepAlive: true, maxSockets: 2 }),
      };
      const idleAgents = [1, 2, 3].map(() => new http.Agent({ keepAlive: true, maxSockets: 1 }));
      const closeClients = async (): Promise<void> => {
        await Promise.all([...Object.values(pools), ...idleClients].map((d) => d.close().catch(() => undefined)));
        for (const agent of [...Object.values(agents), ...idleAgents]) agent.destroy();
      };

      const stop: Stop = { stopped: false, deadline: Date.now() + 40_000 + reloads * intervalMs };
      const worker = (
        kind: string,
        name: string,
        maxIterations: number,
        call: () => Promise<Outcome>,
        pause?: () => number,
      ): Promise<void> => {
        rec.kind(kind);
        let previousPid: number | undefined;
        return loop(
          stop,
          maxIterations,
          async () => {
            const sentAt = rec.now();
            try {
              const { identity, close } = await call();
              rec.ok({ kind, pid: identity.pid, version: identity.version, sentAt, close });
              previousPid = identity.pid;
            } catch (error) {
              const reusedSocket = (error as { reusedSocket?: boolean }).reusedSocket;
              rec.fail(
                { kind, worker: name, sentAt, previousPid, ...(reusedSocket !== undefined ? { reusedSocket } : {}) },
                error,
              );
            }
          },
          pause,
        );
      };
      const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
      // Count bounds well above what a worker can do in the time (each reload takes ~intervalMs):
      // the loops end when the test stops them, or at the deadline, never by running out early.
      const per = (perReload: number): number => perReload * (reloads + 2) * Math.ceil(intervalMs / 1000);
      const idlePause = (seed: number): (() => number) => {
        const random = seededRandom(seed);
        return () => 500 + Math.floor(random() * 2500);
      };
      const shortPause = (seed: number): (() => number) => {
        const random = seededRandom(seed);
        return () => Math.floor(random() * 100);
      };

      const workers: Array<Promise<void>> = [
        ...range(4).map((i) =>
          worker('undici-pool', `v${i}`, per(25_000), () => viaUndici(pools.version, '/version', identityOf)),
        ),
        ...range(4).map((i) =>
          worker('http-agent', `v${i}`, per(25_000), () => viaAgent(agents.version, port, '/version', identityOf)),
        ),
        ...idleClients.map((client, i) =>
          worker('undici-idle', `c${i}`, per(10), () => viaUndici(client, '/version', identityOf), idlePause(100 + i)),
        ),
        ...idleAgents.map((agent, i) =>
          worker(
            'agent-idle',
            `a${i}`,
            per(10),
            () => viaAgent(agent, port, '/version', identityOf),
            idlePause(200 + i),
          ),
        ),
        ...range(2).map((i) =>
          worker(
            'upload-undici',
            `u${i}`,
            per(500),
            () => viaUndici(pools.upload, '/upload', uploadIdentity(UPLOAD), UPLOAD),
            shortPause(300 + i),
          ),
        ),
        ...range(2).map((i) =>
          worker(
            'upload-agent',
            `u${i}`,
            per(500),
            () => viaAgent(agents.upload, port, '/upload', uploadIdentity(UPLOAD), UPLOAD),
            shortPause(400 + i),
          ),
        ),
        ...range(2).map((i) =>
          worker('stream-undici', `s${i}`, per(250), () => viaUndici(pools.stream, '/stream', streamIdentity)),
        ),
        ...range(2).map((i) =>
          worker('stream-agent', `s${i}`, per(250), () => viaAgent(agents.stream, port, '/stream', streamIdentity)),
        ),
        // Long requests, one started every SLOW_MS / 5, so several are always in flight when a successor takes over.
        ...range(3).map((i) =>
          sleep(i * 1000).then(() =>
            worker('slow-undici', `l${i}`, per(5), () => viaUndici(pools.slow, `/slow?ms=${SLOW_MS}`, identityOf)),
          ),
        ),
        ...range(2).map((i) =>
          sleep(500 + i * 1000).then(() =>
            worker('slow-agent', `l${i}`, per(5), () => viaAgent(agents.slow, port, `/slow?ms=${SLOW_MS}`, identityOf)),
          ),
        ),
      ];

      let reloading = true;
      try {
        await sleep(1000);
        for (let n = 1; n <= reloads; n++) {
          const version = `1.${n}`;
          newBuild(dir, version);
          const current = readPid(pidFile) as number;
          expect(current).toBe(generations[generations.length - 1]?.pid);
          rec.event('sighup', current);
          process.kill(current, 'SIGHUP');
          const next = await waitForPidFileChange(pidFile, current);
          rec.event('ready', next);
          generations.push({ pid: next, version, readyAt: rec.now() });
          await sleep(intervalMs);
        }
        // Keep the load on the last generation a little longer, then let every loop finish by itself.
        await sleep(1500);
        reloading = false;
      } finally {
        stop.stopped = true;
        await Promise.all(workers);
        await closeClients();
        // A reload that went wrong (e.g. a successor never ready): show what every process said, and when.
        if (reloading) process.stdout.write(`${rec.summary(`${framework}: reload phase failed`, true)}\n`);
      }

      // Every predecessor drains and exits once its clients are gone; the first one is our child: exit 0.
      const predecessors = generations.slice(0, -1);
      for (const { pid } of predecessors) {
        await waitFor(`predecessor ${pid} to exit`, () => !isAlive(pid) || undefined, 15_000);
        rec.event('exited', pid);
      }
      expect(await server.exited).toEqual({ code: 0, signal: null });
      const summary = rec.summary(
        `${framework}, ${reloads} reloads`,
        rec.failures.length > 0 || process.env.RELOAD_UNDER_LOAD_LOG === '1',
      );
      process.stdout.write(`${summary}\n`);

      // Zero failed requests of every kind (the summary above lists each one with its timing).
      expect(rec.failures).toEqual([]);

      // Every kind did real work, and every response came from a generation with the right build.
      const versionOf = new Map(generations.map((g) => [g.pid, g.version]));
      const counts = rec.countsByKind();
      for (const [kind, c] of counts) {
        expect({ kind, ok: c.ok > 0 }).toEqual({ kind, ok: true });
        // Every kind was served by more than one generation.
        expect({ kind, generations: c.pids.size > 1 }).toEqual({ kind, generations: true });
      }
      const wrong = rec.served.filter((s) => versionOf.get(s.pid) !== s.version);
      expect(wrong).toEqual([]);
      // The back-to-back clients saw every generation.
      for (const kind of ['undici-pool', 'http-agent']) {
        expect([...(counts.get(kind)?.pids ?? [])].sort()).toEqual(generations.map((g) => g.pid).sort());
      }

      // Requests in flight across every handoff: sent before the successor was ready, answered by the predecessor after it.
      for (let n = 1; n < generations.length; n++) {
        const predecessor = generations[n - 1] as { pid: number };
        const { readyAt } = generations[n] as { readyAt: number };
        const crossing = rec.served.filter(
          (s) => s.kind.startsWith('slow') && s.pid === predecessor.pid && s.sentAt < readyAt && s.at > readyAt,
        );
        expect({ reload: n, slowRequestsAcross: crossing.length > 0 }).toEqual({ reload: n, slowRequestsAcross: true });
      }

      // Every predecessor drained by itself: no drain deadline, no connection closed by force.
      const output = server.output();
      expect(output).not.toMatch(/by force/);
      expect(output.match(/drained in/g)?.length).toBe(reloads);
    },
    60_000 + reloads * intervalMs * 2,
  );
});
