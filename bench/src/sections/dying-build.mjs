// Section 4: a build that dies 1 s after it is ready. v1 serves under the usual load; the deploy puts a
// build on disk that exits with code 1 about 1 s after it is ready (apps/build.cjs), and the operator's
// reload runs once. Reported, whatever happens: failed requests, the reload's outcome as its tool said it,
// which build answered afterwards, and whether a plain request is answered 10 s after the new build died.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { deadline, now, sleep, sleepUntil } from '@baton/core/verify';
import { EventLog } from '../lib/event-log.mjs';
import { freePort, isAlive, killPids } from '../lib/procs.mjs';
import { round } from '@baton/core/verify';
import { readPidFile, READY_TIMEOUT_MS } from '../strategies/common.mjs';
import { startLoad } from './reload.mjs';

/** The strategies this section runs, in report order. */
export const DYING_STRATEGIES = ['baton', 'baton-run', 'pm2'];
export const OLD_BUILD = 'v1';
export const NEW_BUILD = 'v2-dies';

const STOP_LOAD_TIMEOUT_MS = 40_000;
/** The probe: one plain GET on a new connection, as a health check or a user would send it. */
const PROBE_TIMEOUT_MS = 3000;
/** How long the bench waits for the reload command's outcome once the probe is done. */
const OUTCOME_WAIT_MS = 60_000;

/** Puts `build` "on disk", atomically, as a deploy would. */
function deploy(file, build) {
  fs.writeFileSync(`${file}.tmp`, `${build}\n`);
  fs.renameSync(`${file}.tmp`, file);
}

/** One plain GET / on a new connection: answered (any status) or the error code. */
export function plainRequest(port, pathName = '/work') {
  return new Promise((resolve) => {
    const started = now();
    const req = http.get(
      { host: '127.0.0.1', port, path: pathName, agent: false, headers: { connection: 'close' } },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({
            answered: true,
            status: res.statusCode,
            build: res.headers['x-build'],
            pid: Number(res.headers['x-pid']) || undefined,
            ms: round(now() - started),
          }),
        );
        res.on('error', (error) => resolve({ answered: false, error: error.code ?? error.message }));
      },
    );
    req.setTimeout(PROBE_TIMEOUT_MS, () => req.destroy(Object.assign(new Error('timed out'), { code: 'TIMEOUT' })));
    req.on('error', (error) =>
      resolve({ answered: false, error: error.code ?? error.message, ms: round(now() - started) }),
    );
  });
}

/** The reload an operator runs, through each tool, and what the tool said about it. */
async function reloadOnce(strategy, ctx) {
  const started = now();
  if (strategy.name === 'baton-run') {
    // `baton reload` asks the supervisor over its control socket and waits for the outcome.
    const r = await strategy.cli(ctx, ['reload']);
    const lines = r.output.split('\n').filter((l) => l.trim() !== '');
    return {
      tool: '`baton reload`',
      exitCode: r.code,
      said: lines.at(-1) ?? '',
      output: r.output,
      ms: round(now() - started),
    };
  }
  try {
    const r = await strategy.reload(ctx);
    if (strategy.name === 'pm2') {
      return {
        tool: '`pm2 reload`',
        exitCode: r.commandCode,
        said: `new process ${r.newPid} was listening ${round(r.readyAt - r.signalAt, 0)} ms after the command started`,
        ms: round(r.commandMs),
      };
    }
    return { tool: 'kill -HUP', said: `successor ${r.newPid} ready`, ms: round(r.readyAt - r.signalAt) };
  } catch (error) {
    return {
      tool: strategy.name === 'pm2' ? '`pm2 reload`' : 'kill -HUP',
      failed: true,
      said: error.message.split('\n')[0],
      ms: round(now() - started),
    };
  }
}

/** What the tool itself says once the probe is done. */
async function toolView(strategy, ctx, buildOf) {
  try {
    if (strategy.name === 'baton') {
      const pid = readPidFile(strategy.pidFile);
      return { pidFile: pid, pidFileBuild: buildOf.get(pid) };
    }
    if (strategy.name === 'baton-run') {
      const r = await strategy.cli(ctx, ['status', '--json'], 15_000);
      const s = JSON.parse(r.output.trim().split('\n').at(-1));
      const workers = s.workers ?? {};
      const health =
        s.health ?? (workers.ready >= workers.wanted ? 'serving' : workers.ready > 0 ? 'degraded' : 'down');
      return {
        health,
        phase: s.phase,
        ready: workers.ready,
        wanted: workers.wanted,
        restarts: s.restarts,
        statusExit: r.code,
      };
    }
    if (strategy.name === 'pm2') {
      const r = await strategy.cli(ctx, ['jlist'], 15_000);
      const list = JSON.parse(r.output.slice(r.output.indexOf('[')));
      return {
        processes: list.map((p) => ({
          status: p.pm2_env?.status,
          restarts: p.pm2_env?.restart_time,
          unstableRestarts: p.pm2_env?.unstable_restarts,
        })),
      };
    }
  } catch (error) {
    return { error: error.message.split('\n')[0] };
  }
  return {};
}

/**
 * One trial for one strategy: start v1, load, reload onto the dying build, wait until 10 s (laterMs)
 * after the new build's first process died, probe, stop. Every process it saw is killed by pid at the end.
 */
export async function runDyingBuild(strategy, options, rawDir, trial = 1) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `baton-bench-dying-${strategy.name}-`));
  const outDir = path.join(rawDir, 'dying-build', `${strategy.name}-${trial}`);
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.mkdirSync(outDir, { recursive: true });
  const buildFile = path.join(dir, 'build');
  deploy(buildFile, OLD_BUILD);
  const port = await freePort();
  const events = new EventLog(path.join(outDir, 'events.jsonl'));
  const extraPids = [];
  const ctx = {
    dir,
    port,
    events,
    extraPids,
    log: path.join(outDir, 'server.log'),
    env: {
      PORT: String(port),
      BENCH_EVENTS: events.file,
      BATON_LOG: 'info',
      BENCH_BUILD_FILE: buildFile,
      BENCH_DIES_AFTER_MS: String(options.diesAfterMs),
    },
    workers: strategy.name === 'baton-run' ? options.workers : undefined,
  };
  const known = () => [
    ...extraPids,
    ...events
      .poll()
      .filter((e) => e.ev === 'start')
      .map((e) => ({ pid: e.pid, role: e.role })),
  ];
  const errors = [];
  let load;
  try {
    await strategy.start(ctx);
    const requestsFile = path.join(outDir, 'requests.json');
    const plannedMs = options.warmupMs + options.steadyMs + options.diesAfterMs + options.laterMs;
    load = startLoad({ port, seed: options.seed, out: requestsFile, maxMs: plannedMs * 3 + 60_000, ...options.load });
    const loadStart = await load.started;
    await sleepUntil(loadStart + options.warmupMs + options.steadyMs);

    // The deploy: the new build on disk, then the operator's reload.
    deploy(buildFile, NEW_BUILD);
    const from = events.poll().length;
    const signalAt = now();
    const reloading = reloadOnce(strategy, ctx);
    const newBuildPids = () =>
      new Set(
        events
          .poll()
          .slice(from)
          .filter((e) => e.ev === 'build' && e.build === NEW_BUILD)
          .map((e) => e.pid),
      );
    let died;
    try {
      died = await events.waitFor(
        'a process of the new build to exit',
        (e) => (e.ev === 'dying' || e.ev === 'exit') && newBuildPids().has(e.pid),
        READY_TIMEOUT_MS + options.diesAfterMs + 10_000,
        from,
      );
    } catch (error) {
      errors.push(error.message);
    }
    const diedAt = died?.t;
    const probeAt = (diedAt ?? now()) + options.laterMs;
    await sleepUntil(probeAt);
    const probe = await plainRequest(port);
    const alive = known().filter((p) => isAlive(p.pid));
    // What the tool says at that moment (pid file, `baton status`, `pm2 jlist`), load still running.
    const buildOf = new Map(
      events
        .poll()
        .filter((e) => e.ev === 'build')
        .map((e) => [e.pid, e.build]),
    );
    const tool = await toolView(strategy, ctx, buildOf);

    const loadStop = now();
    load.child.send({ type: 'stop' });
    await Promise.race([load.done, deadline(STOP_LOAD_TIMEOUT_MS)]);
    const reload = await Promise.race([
      reloading,
      deadline(OUTCOME_WAIT_MS).then(() => ({
        said: `no outcome ${OUTCOME_WAIT_MS / 1000} s after the probe`,
        failed: true,
      })),
    ]);
    await strategy.stop(ctx);
    await sleep(500);

    const data = JSON.parse(fs.readFileSync(requestsFile, 'utf8'));
    const log = fs.readFileSync(ctx.log, 'utf8');
    return analyze({
      strategy,
      trial,
      options,
      data,
      events: events.poll(),
      from,
      signalAt,
      diedAt,
      probeAt,
      loadStart,
      loadStop,
      probe,
      alive,
      reload,
      tool,
      log,
      errors,
    });
  } catch (error) {
    errors.push(error.stack ?? String(error));
    return { name: strategy.name, label: strategy.label, trial, errors };
  } finally {
    if (load && load.child.exitCode === null) load.child.kill('SIGKILL');
    await killPids(
      known()
        .map((p) => p.pid)
        .filter(isAlive),
    );
    events.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function count(codesByKind) {
  return Object.values(codesByKind).reduce((sum, codes) => sum + Object.values(codes).reduce((a, b) => a + b, 0), 0);
}

function analyze({
  strategy,
  trial,
  options,
  data,
  events,
  from,
  signalAt,
  diedAt,
  probeAt,
  loadStop,
  probe,
  alive,
  reload,
  tool,
  log,
  errors,
}) {
  const buildOf = new Map(events.filter((e) => e.ev === 'build').map((e) => [e.pid, e.build]));
  const ok = data.codes.indexOf('ok');
  const after = diedAt ?? probeAt;
  // Failed requests by when they started: before the reload, between it and the death, after the death.
  const phases = { beforeReload: {}, untilDeath: {}, afterDeath: {} };
  const answeredAfterDeath = {};
  const lastSecond = { ok: 0, failed: 0, byBuild: {} };
  for (let i = 0; i < data.t.length; i += 1) {
    const t = data.t[i];
    const kind = data.kinds[data.kind[i]];
    if (data.code[i] !== ok) {
      const phase = t < signalAt ? 'beforeReload' : t < after ? 'untilDeath' : 'afterDeath';
      const code = data.codes[data.code[i]];
      phases[phase][kind] ??= {};
      phases[phase][kind][code] = (phases[phase][kind][code] ?? 0) + 1;
      if (t >= probeAt - 1000) lastSecond.failed += 1;
      continue;
    }
    if (t < after) continue;
    const build = data.pid[i] ? (buildOf.get(data.pid[i]) ?? 'unknown') : 'not told';
    answeredAfterDeath[build] = (answeredAfterDeath[build] ?? 0) + 1;
    if (t >= probeAt - 1000) {
      lastSecond.ok += 1;
      lastSecond.byBuild[build] = (lastSecond.byBuild[build] ?? 0) + 1;
    }
  }
  // Up to the probe: a supervisor or pm2 may go on restarting the new build until the bench stops it.
  const newPids = new Set(
    events
      .slice(from)
      .filter((e) => e.ev === 'build' && e.build === NEW_BUILD && e.t <= probeAt)
      .map((e) => e.pid),
  );
  const newExits = events.filter((e) => e.ev === 'exit' && newPids.has(e.pid) && e.t <= probeAt).map((e) => e.code);
  const rolledBackLines = log
    .split('\n')
    .filter((l) => l.includes('rolled back'))
    .map((l) => l.trim().slice(0, 300));
  const aliveByBuild = {};
  for (const p of alive) {
    const build = buildOf.get(p.pid) ?? p.role;
    aliveByBuild[build] = (aliveByBuild[build] ?? 0) + 1;
  }
  const totalRequests = Object.values(data.requests).reduce((a, b) => a + b, 0);
  return {
    name: strategy.name,
    label: strategy.label,
    trial,
    workers: strategy.name === 'baton-run' ? options.workers : undefined,
    reload: {
      tool: reload.tool,
      exitCode: reload.exitCode,
      failed: reload.failed ?? false,
      said: reload.said,
      ms: reload.ms,
      output: reload.output?.slice(0, 4000),
    },
    newBuild: {
      diedAfterSignalMs: diedAt === undefined ? undefined : round(diedAt - signalAt, 0),
      /** Processes of the new build that started, and the exit codes of those that exited, by the probe. */
      processesStarted: newPids.size,
      exitCodes: newExits,
    },
    requests: { total: totalRequests, byKind: data.requests },
    failed: {
      total: count(data.failures),
      byKind: data.failures,
      beforeReload: count(phases.beforeReload),
      untilDeath: count(phases.untilDeath),
      afterDeath: count(phases.afterDeath),
      afterDeathByKind: phases.afterDeath,
      recordsCapped: data.failuresCapped,
    },
    answeredAfterDeath,
    lastSecondBeforeProbe: lastSecond,
    probe: {
      ...probe,
      afterDeathMs: diedAt === undefined ? undefined : round(probeAt - diedAt, 0),
      afterSignalMs: round(probeAt - signalAt, 0),
    },
    upLater: probe.answered && probe.status === 200,
    aliveAtProbe: aliveByBuild,
    rolledBack: {
      logLines: rolledBackLines.slice(0, 5),
      events: events.filter((e) => e.ev === 'baton:rolled-back').length,
      settled: events.filter((e) => e.ev === 'baton:settled').length,
    },
    tool,
    loadSeconds: round((loadStop - signalAt) / 1000, 1),
    errors,
  };
}
