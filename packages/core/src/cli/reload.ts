import { errorFromWire, errorToWire, type BatonErrorCode, type WireError } from '../errors';
import { readPidFile } from '../internal/pid-file';
import { sendControlRequest } from '../control/client';
import type { ControlEvent, ReloadOutcome } from '../wire/control';
import { isAlive, pidFromFile, resolveTarget, supervisedBy, type TargetOptions } from './target';
import { counts, seconds, type Output } from './output';

export interface ReloadCommandOptions extends TargetOptions {
  timeout: number;
  json?: boolean;
}

interface ReloadReport {
  ok: boolean;
  mode: string;
  pids?: number[];
  previousPids?: number[];
  readyMs?: number;
  durationMs: number;
  draining?: ReloadOutcome['draining'];
  exited?: Array<{ pid: number; durationMs?: number; forced?: number; moved?: number }>;
  stillDraining?: number[];
  /** Its code is one of BATON_ERROR_CODES, whatever the process answered. */
  error?: WireError;
}

/** `baton reload`: exit 0 when the new generation serves, 1 when the reload failed or timed out. */
export async function reloadCommand(options: ReloadCommandOptions, out: Output): Promise<number> {
  const target = resolveTarget(options);
  const report =
    target.kind === 'control'
      ? await viaControl(target.socket, options, out)
      : await viaPidFile(target.pidFile, options, out);
  if (options.json) out.stdout(JSON.stringify(report));
  return report.ok ? 0 : 1;
}

async function viaControl(socket: string, options: ReloadCommandOptions, out: Output): Promise<ReloadReport> {
  const started = Date.now();
  const deadline = started + options.timeout;
  if (!options.json) out.stdout(`reloading through ${socket}`);
  const exited: NonNullable<ReloadReport['exited']> = [];
  // The process logs its failure as a step too; the final line says it once, with the code.
  let failedStep: string | undefined;
  const exchange = sendControlRequest(socket, { command: 'reload' }, (event: ControlEvent) => {
    if (event.type === 'progress' && event.event === 'reload-failed') failedStep = event.message;
    else if (event.type === 'progress' && !options.json) out.stdout(`  [${event.pid}] ${event.message}`);
    if (event.type === 'drained') {
      exited.push({
        pid: event.pid,
        ...(event.durationMs !== undefined ? { durationMs: event.durationMs } : {}),
        ...(event.forced !== undefined ? { forced: event.forced } : {}),
        ...(event.moved !== undefined ? { moved: event.moved } : {}),
      });
      if (!options.json) {
        const moved = event.moved ? `, ${event.moved} connections moved to the new workers` : '';
        const forced = event.forced ? `, ${event.forced} connections closed by force` : '';
        const after = event.durationMs !== undefined ? ` after draining ${seconds(event.durationMs)}` : '';
        out.stdout(`  pid ${event.pid} exited${after}${moved}${forced}`);
      }
    }
  });
  const timedOut = <T>(promise: Promise<T>): Promise<T | 'timeout'> =>
    Promise.race([
      promise,
      new Promise<'timeout'>((resolve) =>
        setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now())).unref(),
      ),
    ]);

  const result = await timedOut(exchange.result).catch((error: Error & { code?: string }) => ({ failure: error }));
  if (result === 'timeout') {
    exchange.close();
    const message = `no outcome after ${seconds(options.timeout)}: the reload may still be running; see \`baton status\` and the logs`;
    out.stderr(`reload failed: ${message}`);
    return {
      ok: false,
      mode: 'unknown',
      durationMs: Date.now() - started,
      error: { code: 'ERR_BATON_NO_OUTCOME', message },
    };
  }
  if ('failure' in result) {
    out.stderr(`reload failed: ${result.failure.message}`);
    return {
      ok: false,
      mode: 'unknown',
      durationMs: Date.now() - started,
      error: { code: 'ERR_BATON_NO_ANSWER', message: result.failure.message },
    };
  }
  if (!result.ok) {
    exchange.close();
    // Decoded, so a code from another version of baton is reported as ERR_BATON_UNKNOWN, not passed on.
    const error = errorToWire(errorFromWire(result.error));
    // The logged step may say more (in place: "reload failed, still serving as pid N: ..."); keep that, with the code.
    const step =
      failedStep !== undefined && /^reload failed\b/.test(failedStep) && failedStep.endsWith(error.message)
        ? failedStep.slice('reload failed'.length)
        : undefined;
    out.stderr(`reload failed (${error.code})${step ?? `: ${error.message}`}`);
    return { ok: false, mode: 'unknown', durationMs: Date.now() - started, error };
  }
  if (!('reload' in result)) {
    exchange.close();
    return {
      ok: false,
      mode: 'unknown',
      durationMs: Date.now() - started,
      error: { code: 'ERR_BATON_NO_ANSWER', message: 'unexpected answer: a result without a reload outcome' },
    };
  }
  const outcome = result.reload;
  if (!options.json) {
    out.stdout(
      `reload ok: ${outcome.previousPids.join(', ') || '(none)'} -> ${outcome.pids.join(', ')} (ready in ${outcome.readyMs} ms, ${seconds(outcome.durationMs)} in all)`,
    );
    for (const d of outcome.draining)
      out.stdout(`  pid ${d.pid} draining ${d.connections ? counts(d.connections) : 'its connections'}`);
  }
  // Then watch the old generation leave: the server reports each exit, or (in-place) closes the
  // connection when the old process exits.
  const settled = await timedOut(exchange.closed);
  exchange.close();
  const stillDraining = outcome.previousPids.filter((pid) => isAlive(pid) && !exited.some((e) => e.pid === pid));
  if (outcome.mode === 'in-place' && !options.json) {
    for (const pid of outcome.previousPids) if (!stillDraining.includes(pid)) out.stdout(`  pid ${pid} exited`);
  }
  if (stillDraining.length > 0 && !options.json) {
    out.stdout(
      `  still draining after ${seconds(Date.now() - started)}: ${stillDraining.join(', ')} (the new generation serves)`,
    );
  }
  void settled;
  return {
    ok: true,
    mode: outcome.mode,
    pids: outcome.pids,
    previousPids: outcome.previousPids,
    readyMs: outcome.readyMs,
    durationMs: Date.now() - started,
    draining: outcome.draining,
    exited,
    ...(stillDraining.length > 0 ? { stillDraining } : {}),
  };
}

/**
 * Without a control socket the outcome can only be watched from outside: SIGHUP, then wait for the
 * pid file to name a new live process, then for the old one to exit.
 */
async function viaPidFile(pidFile: string, options: ReloadCommandOptions, out: Output): Promise<ReloadReport> {
  const started = Date.now();
  const deadline = started + options.timeout;
  const oldPid = pidFromFile(pidFile);
  const workers = supervisedBy(oldPid);
  if (workers.length > 0) return viaSupervisorPid(pidFile, oldPid, workers, options, out);
  process.kill(oldPid, 'SIGHUP');
  if (!options.json)
    out.stdout(
      `sent SIGHUP to pid ${oldPid} (from ${pidFile}); waiting up to ${seconds(options.timeout)} for the next generation`,
    );
  const fail = (code: BatonErrorCode, message: string): ReloadReport => {
    out.stderr(`reload failed: ${message}`);
    return {
      ok: false,
      mode: 'in-place',
      previousPids: [oldPid],
      durationMs: Date.now() - started,
      error: { code, message },
    };
  };
  let newPid: number | undefined;
  while (Date.now() < deadline) {
    const named = readPidFile(pidFile);
    if (named !== undefined && named !== oldPid && isAlive(named)) {
      newPid = named;
      break;
    }
    if (!isAlive(oldPid))
      return fail('ERR_BATON_CHILD_EXITED', `pid ${oldPid} exited and ${pidFile} names no new process`);
    await sleep(50);
  }
  if (newPid === undefined) {
    return fail(
      'ERR_BATON_NO_OUTCOME',
      `${pidFile} still names pid ${oldPid} after ${seconds(options.timeout)}: the next generation failed or is still starting (see the logs of pid ${oldPid}; --control gives the real outcome)`,
    );
  }
  const readyMs = Date.now() - started;
  if (!options.json)
    out.stdout(
      `  pid ${newPid} serves (${pidFile} updated after ${readyMs} ms); waiting for pid ${oldPid} to drain and exit`,
    );
  while (Date.now() < deadline && isAlive(oldPid)) await sleep(50);
  const stillDraining = isAlive(oldPid) ? [oldPid] : [];
  if (!options.json) {
    out.stdout(
      stillDraining.length
        ? `  pid ${oldPid} still draining after ${seconds(Date.now() - started)}`
        : `  pid ${oldPid} exited`,
    );
    out.stdout(`reload ok: ${oldPid} -> ${newPid}`);
  }
  return {
    ok: true,
    mode: 'in-place',
    pids: [newPid],
    previousPids: [oldPid],
    readyMs,
    durationMs: Date.now() - started,
    ...(stillDraining.length ? { stillDraining } : { exited: [{ pid: oldPid }] }),
  };
}

/**
 * A `baton run` supervisor without a control socket at <pid file>.sock: its pid never changes, so
 * watch its workers instead: success once every old worker has exited and new ones serve.
 */
async function viaSupervisorPid(
  pidFile: string,
  pid: number,
  oldWorkers: number[],
  options: ReloadCommandOptions,
  out: Output,
): Promise<ReloadReport> {
  const started = Date.now();
  const deadline = started + options.timeout;
  process.kill(pid, 'SIGHUP');
  if (!options.json)
    out.stdout(
      `sent SIGHUP to supervisor pid ${pid} (from ${pidFile}); watching workers ${oldWorkers.join(', ')} being replaced`,
    );
  let fresh: number[] = [];
  while (Date.now() < deadline) {
    fresh = supervisedBy(pid).filter((p) => !oldWorkers.includes(p));
    if (oldWorkers.every((p) => !isAlive(p)) && fresh.length > 0) break;
    if (!isAlive(pid)) break;
    await sleep(50);
  }
  const left = oldWorkers.filter(isAlive);
  if (!isAlive(pid) || left.length > 0 || fresh.length === 0) {
    const message = !isAlive(pid)
      ? `supervisor pid ${pid} exited`
      : `after ${seconds(Date.now() - started)} workers ${left.join(', ')} still run: the reload failed or is still draining (pass --control for the real outcome)`;
    out.stderr(`reload failed: ${message}`);
    return {
      ok: false,
      mode: 'supervised',
      previousPids: oldWorkers,
      durationMs: Date.now() - started,
      error: { code: 'ERR_BATON_NO_OUTCOME', message },
    };
  }
  if (!options.json) out.stdout(`reload ok: ${oldWorkers.join(', ')} -> ${fresh.join(', ')}`);
  return {
    ok: true,
    mode: 'supervised',
    pids: fresh,
    previousPids: oldWorkers,
    durationMs: Date.now() - started,
    exited: oldWorkers.map((p) => ({ pid: p })),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
