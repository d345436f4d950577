// Section 3: spawn-to-ready of a bare `node app.js` (app.listen) against a baton successor
// (SIGHUP to ready), and a baton first generation, on a quiet machine and interleaved, so the
// handoff's own cost shows apart from the application's start-up.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { now } from '@baton/core/verify';
import { EventLog } from '../lib/event-log.mjs';
import { freePort, killPids, signal, startNode, waitGone } from '../lib/procs.mjs';
import { round, summary } from '@baton/core/verify';
import { app, readPidFile, READY_TIMEOUT_MS } from '../strategies/common.mjs';

function stats(values) {
  const s = summary(values);
  return {
    n: s.n,
    min: round(s.min),
    p50: round(s.p50),
    p95: round(s.p95),
    max: round(s.max),
    mean: round(s.mean),
    sd: round(s.sd),
  };
}

/** Spawns `script`, waits for `readyEvent` from it, kills it; returns the spawn-to-event times. */
async function spawnToReady(script, readyEvent, ctx) {
  const from = ctx.events.poll().length;
  const port = await freePort();
  const { pid, spawnedAt } = startNode(app(script), { env: { ...ctx.env, PORT: String(port) }, log: ctx.log });
  try {
    const ready = await ctx.events.waitFor(
      `${script} ${readyEvent}`,
      (e) => e.ev === readyEvent && e.pid === pid,
      READY_TIMEOUT_MS,
      from,
    );
    const started = ctx.events.poll().find((e) => e.ev === 'start' && e.pid === pid);
    return { readyMs: ready.t - spawnedAt, nodeBootMs: started.t - spawnedAt, initMs: ready.t - started.t };
  } finally {
    await killPids([pid]);
  }
}

export async function runStartup(options, log = () => {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-bench-startup-'));
  const events = new EventLog(path.join(dir, 'events.jsonl'));
  const pidFile = path.join(dir, 'app.pid');
  const ctx = { events, log: path.join(dir, 'servers.log'), env: { BENCH_EVENTS: events.file, BATON_LOG: 'warn' } };
  const bare = [];
  const batonFirst = [];
  const successor = [];
  const seen = new Set();
  try {
    // One baton service that is reloaded again and again, between the other samples.
    const port = await freePort();
    const first = startNode(app('baton.cjs'), {
      env: { ...ctx.env, PORT: String(port), BATON_PID_FILE: pidFile },
      log: ctx.log,
    });
    seen.add(first.pid);
    await events.waitFor('baton ready', (e) => e.ev === 'baton:ready' && e.pid === first.pid, READY_TIMEOUT_MS);
    for (let i = 0; i < options.samples; i += 1) {
      bare.push(await spawnToReady('plain.cjs', 'listening', ctx));
      batonFirst.push(await spawnToReady('baton.cjs', 'baton:ready', ctx));

      const oldPid = readPidFile(pidFile);
      const from = events.poll().length;
      const signalAt = now();
      signal(oldPid, 'SIGHUP');
      const ready = await events.waitFor(
        'successor ready',
        (e) => e.ev === 'baton:ready' && e.pid !== oldPid,
        READY_TIMEOUT_MS,
        from,
      );
      seen.add(ready.pid);
      const handed = await events.waitFor(
        'handed over',
        (e) => e.ev === 'baton:handed-over' && e.pid === oldPid,
        READY_TIMEOUT_MS,
        from,
      );
      const started = events.poll().find((e) => e.ev === 'start' && e.pid === ready.pid);
      const goneAt = await waitGone(oldPid, READY_TIMEOUT_MS, 2);
      successor.push({
        readyMs: ready.t - signalAt,
        nodeBootMs: started.t - signalAt,
        initMs: ready.t - started.t,
        batonReadyMs: handed.readyMs,
        predecessorGoneMs: goneAt === undefined ? undefined : goneAt - signalAt,
      });
      log(
        `start-up ${i + 1}/${options.samples}: bare ${round(bare.at(-1).readyMs)} ms, baton successor ${round(ready.t - signalAt)} ms`,
      );
    }
    const pick = (rows, key) => rows.map((r) => r[key]).filter((v) => v !== undefined);
    const result = {
      samples: options.samples,
      bare: {
        spawnToReady: stats(pick(bare, 'readyMs')),
        nodeBoot: stats(pick(bare, 'nodeBootMs')),
        init: stats(pick(bare, 'initMs')),
      },
      batonFirst: {
        spawnToReady: stats(pick(batonFirst, 'readyMs')),
        nodeBoot: stats(pick(batonFirst, 'nodeBootMs')),
        init: stats(pick(batonFirst, 'initMs')),
      },
      batonSuccessor: {
        signalToReady: stats(pick(successor, 'readyMs')),
        signalToNodeStart: stats(pick(successor, 'nodeBootMs')),
        init: stats(pick(successor, 'initMs')),
        spawnToReadyAsBatonSees: stats(pick(successor, 'batonReadyMs')),
        signalToPredecessorGone: stats(pick(successor, 'predecessorGoneMs')),
      },
    };
    result.handoffCostMs = round(result.batonSuccessor.signalToReady.p50 - result.bare.spawnToReady.p50);
    result.batonLoadCostMs = round(result.batonFirst.spawnToReady.p50 - result.bare.spawnToReady.p50);
    return result;
  } finally {
    try {
      signal(readPidFile(pidFile), 'SIGTERM');
    } catch {
      // Nothing serving.
    }
    await killPids([...seen, ...events.pids()]);
    events.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
