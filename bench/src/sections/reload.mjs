// Section 1: the same app under the same load, reloaded R times (one a second) by each strategy.
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deadline, now, sleep, sleepUntil } from '@baton/core/verify';
import { EventLog } from '../lib/event-log.mjs';
import { freePort, isAlive, killPids, waitGone } from '../lib/procs.mjs';
import { ProcessSampler } from '../lib/sampler.mjs';
import { analyzeRun } from './reload-analysis.mjs';

const LOAD_MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'load', 'main.mjs');
const STOP_LOAD_TIMEOUT_MS = 40_000;
/** After the load stops, how long the bench waits for retiring processes to leave on their own. */
const GONE_GRACE_MS = 15_000;

const debug = process.env.BENCH_DEBUG
  ? (...args) => console.error(`[bench ${new Date().toISOString()}]`, ...args)
  : () => {};

/** Starts the load process (load/main.mjs) with `config`; `started` resolves with the moment it began. */
export function startLoad(config) {
  const child = fork(LOAD_MAIN, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const started = new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`load process exited ${code} before it started`)));
    child.on('message', (m) => m.type === 'started' && resolve(m.at));
  });
  const done = new Promise((resolve) => {
    child.on('message', (m) => m.type === 'done' && resolve());
    child.once('exit', () => resolve());
  });
  child.send({ type: 'start', config });
  return { child, started, done };
}

/**
 * Runs one strategy: start, steady load, R reloads, a tail, stop. Every process it saw is killed by
 * pid at the end, whatever happened. A strategy may put something in front of the app (a proxy) and
 * name the port the load should target with `loadPort(ctx)`. `extend`, if given, adds its own numbers
 * to the result from the same raw material (every request, every reload, every process event).
 */
export async function runStrategy(strategy, options, rawDir, { extend } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `baton-bench-${strategy.name}-`));
  const outDir = path.join(rawDir, strategy.name);
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.mkdirSync(outDir, { recursive: true });
  const port = await freePort();
  const events = new EventLog(path.join(outDir, 'events.jsonl'));
  const extraPids = [];
  const ctx = {
    dir,
    port,
    events,
    extraPids,
    log: path.join(outDir, 'server.log'),
    env: { PORT: String(port), BENCH_EVENTS: events.file, BATON_LOG: 'info' },
  };
  const known = () => [
    ...extraPids,
    ...events
      .poll()
      .filter((e) => e.ev === 'start')
      .map((e) => ({ pid: e.pid, role: e.role })),
  ];
  const sampler = new ProcessSampler(known);
  const reloads = [];
  const goneWatches = [];
  const goneSeen = new Map();
  const errors = [];
  let load;
  const phases = {};
  try {
    await strategy.start(ctx);
    sampler.start();
    const requestsFile = path.join(outDir, 'requests.json');
    const plannedMs = options.warmupMs + options.steadyMs + options.reloads * options.intervalMs + options.tailMs;
    load = startLoad({
      port: strategy.loadPort?.(ctx) ?? port,
      seed: options.seed,
      out: requestsFile,
      maxMs: plannedMs * 3 + 60_000,
      ...options.load,
    });
    phases.loadStart = await load.started;
    phases.steadyStart = phases.loadStart + options.warmupMs;
    phases.firstSignalPlanned = phases.steadyStart + options.steadyMs;
    await sleepUntil(phases.firstSignalPlanned);
    for (let i = 0; i < options.reloads; i += 1) {
      await sleepUntil(phases.firstSignalPlanned + i * options.intervalMs);
      try {
        const result = await strategy.reload(ctx);
        reloads.push(result);
        for (const pid of result.oldPids) {
          goneWatches.push(waitGone(pid, 120_000).then((goneAt) => goneAt !== undefined && goneSeen.set(pid, goneAt)));
        }
      } catch (error) {
        errors.push(`reload ${i + 1}: ${error.message}`);
        break;
      }
    }
    const lastSignal = reloads.at(-1)?.signalAt ?? now();
    await sleepUntil(lastSignal + options.tailMs);
    phases.loadStop = now();
    debug(strategy.name, 'stopping the load');
    load.child.send({ type: 'stop' });
    await Promise.race([load.done, deadline(STOP_LOAD_TIMEOUT_MS)]);
    phases.end = now();
    debug(strategy.name, 'load stopped; waiting for retiring processes');
    await Promise.race([Promise.all(goneWatches), deadline(GONE_GRACE_MS)]);
    sampler.stop();
    debug(strategy.name, 'stopping the strategy');
    await strategy.stop(ctx);
    await sleep(500);
    debug(strategy.name, 'stopped');
    const data = JSON.parse(fs.readFileSync(requestsFile, 'utf8'));
    const gone = goneOf(reloads, goneSeen, events.poll());
    const run = analyzeRun({
      strategy,
      options,
      data,
      reloads,
      gone,
      phases,
      sampler: sampler.summary(),
      events: events.poll(),
      errors,
    });
    return extend ? { ...run, ...extend({ run, data, reloads, phases, events: events.poll() }) } : run;
  } catch (error) {
    errors.push(error.stack ?? String(error));
    return { name: strategy.name, label: strategy.label, errors };
  } finally {
    if (load && load.child.exitCode === null) load.child.kill('SIGKILL');
    sampler.stop();
    // Every process this run saw, by pid, never by name.
    await killPids([...known().map((p) => p.pid)].filter(isAlive));
    events.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** When each reload's predecessor was gone: its own exit event, or else the moment it was seen gone. */
function goneOf(reloads, goneSeen, events) {
  const exits = new Map(events.filter((e) => e.ev === 'exit').map((e) => [e.pid, e.t]));
  return reloads.map((r) => {
    const times = r.oldPids.map((pid) => exits.get(pid) ?? goneSeen.get(pid));
    return times.some((t) => t === undefined) ? undefined : Math.max(...times);
  });
}
