import fs from 'node:fs';
import { errorFromWire } from '../errors';
import { sendControlRequest } from '../control/client';
import type { ControlStatus } from '../wire/control';
import { counts, seconds, type Output } from './output';
import { pidFromFile, resolveTarget, UsageError, type TargetOptions } from './target';

export interface StatusCommandOptions extends TargetOptions {
  timeout: number;
  json?: boolean;
  /** Exit 0 only when the service is serving (every wanted worker ready); 1 otherwise. */
  check?: boolean;
}

export type Health = NonNullable<ControlStatus['health']>;

/**
 * serving: every wanted worker (in place: the one generation) is ready; degraded: fewer, at least
 * one; down: none. A `baton run` supervisor reports it; an older process or in-place mode is judged
 * from its worker counts the same way.
 */
export function healthOf(status: Pick<ControlStatus, 'health' | 'workers'>): Health {
  if (status.health !== undefined) return status.health;
  const { ready, wanted } = status.workers;
  return ready >= wanted ? 'serving' : ready > 0 ? 'degraded' : 'down';
}

/**
 * `baton status`: exit 0 when the process answered (or, with only a pid file, is running), 1 when it
 * did not. With --check: 0 only when it is serving; 1 when it is degraded, down or did not answer.
 */
export async function statusCommand(options: StatusCommandOptions, out: Output): Promise<number> {
  const target = resolveTarget(options);
  if (target.kind === 'pid-file') {
    // Without a control socket all we can say is whether the pid file names a live process (in
    // place, the pid file only ever names a serving generation).
    let pid: number;
    try {
      pid = pidFromFile(target.pidFile);
    } catch (error) {
      if (!options.check || !(error instanceof UsageError)) throw error;
      out.stderr(`down: ${error.message}`);
      return 1;
    }
    const uptimeMs = processUptimeMs(pid);
    if (options.json)
      out.stdout(
        JSON.stringify({ mode: 'unknown', pid, running: true, ...(uptimeMs !== undefined ? { uptimeMs } : {}) }),
      );
    else
      out.stdout(
        `pid ${pid} (from ${target.pidFile}) is running${uptimeMs !== undefined ? `, up ${seconds(uptimeMs)}` : ''}; for generations and connections use --control`,
      );
    return 0;
  }
  const exchange = sendControlRequest(target.socket, { command: 'status' });
  const timer = setTimeout(() => exchange.close(), options.timeout);
  try {
    const result = await exchange.result;
    if (!result.ok) {
      const error = errorFromWire(result.error);
      out.stderr(`status failed (${error.code}): ${error.message}`);
      return 1;
    }
    if (!('status' in result)) return 1;
    if (options.json) out.stdout(JSON.stringify(result.status));
    else for (const line of formatStatus(result.status)) out.stdout(line);
    return options.check && healthOf(result.status) !== 'serving' ? 1 : 0;
  } catch (error) {
    out.stderr(`status failed: ${(error as Error).message}`);
    return 1;
  } finally {
    clearTimeout(timer);
    exchange.close();
  }
}

export function formatStatus(status: ControlStatus): string[] {
  const w = status.workers;
  const who = status.mode === 'supervised' ? `supervisor pid ${status.pid}` : `pid ${status.pid}`;
  const health = healthOf(status);
  // `serving` says it all; anything less says how many are ready, whatever the phase.
  const healthText = health === 'serving' ? 'serving' : `${health.toUpperCase()} (${w.ready} of ${w.wanted} ready)`;
  const state =
    status.phase === health ? healthText : health === 'serving' ? status.phase : `${status.phase}, ${healthText}`;
  const lines = [
    `${status.mode}: ${who}, ${state}, up ${seconds(status.uptimeMs)}`,
    `workers: ${w.ready} ready of ${w.wanted} wanted, ${w.starting} starting, ${w.draining} draining${status.restarts ? `; ${status.restarts} restarted after a crash` : ''}`,
  ];
  for (const g of status.generations) {
    const gen = g.generation !== undefined ? ` generation ${g.generation}` : '';
    lines.push(
      `  pid ${g.pid}${gen}: ${g.state}, up ${seconds(g.uptimeMs)}${g.connections ? `, ${counts(g.connections)}` : ''}${movedText(g.connectionsMoved)}`,
    );
  }
  lines.push(`connections: ${counts(status.connections)}`);
  if (status.listeners.length) lines.push(`listeners: ${status.listeners.map((l) => l.key).join(', ')}`);
  const last = status.lastReload;
  if (last) {
    lines.push(
      last.ok
        ? `last reload: ok at ${last.at}${last.pids ? ` -> ${last.pids.join(', ')}` : last.pid !== undefined ? ` -> ${last.pid}` : ''}${last.readyMs !== undefined ? ` (ready in ${last.readyMs} ms)` : ''}`
        : `last reload: FAILED at ${last.at} (${last.code}): ${last.message}`,
    );
  }
  return lines;
}

/** `; connections moved in 12, out 0` when any moved at a reload. */
function movedText(moved: { in: number; out: number } | undefined): string {
  if (!moved || (moved.in === 0 && moved.out === 0)) return '';
  return `; connections moved in ${moved.in}, out ${moved.out}`;
}

/** From /proc on Linux; undefined elsewhere. */
function processUptimeMs(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const startTicks = Number(fields[19]);
    const uptimeS = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    // Clock ticks are 100 per second on every Linux Node supports.
    return Math.max(0, Math.round((uptimeS - startTicks / 100) * 1000));
  } catch {
    return undefined;
  }
}
