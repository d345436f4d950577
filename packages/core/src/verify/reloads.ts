// Reloads the app the way an operator does: SIGHUP to the serving process (`kill -HUP $(cat app.pid)`,
// systemd's ExecReload) or a `reload` over the control socket (`baton reload`), and waits for each
// outcome. What happens to the processes a reload retired (drained, forced, rolled back, gone) is
// filled in as it comes.
import { sendControlRequest, type ControlExchange } from '../control/client';
import { errorFromWire } from '../errors';
import type { ControlStatus } from '../wire/control';
import type { ConnectionCounts } from '../wire/types';
import { sumCounts } from '../wire/types';
import type { AppProcess, BatonEvent } from './app-process';
import { deadline, now, sleep } from './clock';
import { askStatus, tryStatus } from './control-status';
import type { Trigger } from './options';
import { isAlive } from './proc';

export interface DrainRecord {
  pid: number;
  durationMs?: number;
  /** Connections closed by force at the drain deadline. */
  forced?: number;
  exitCode?: number | null;
}

export interface ReloadRecord {
  /** 1-based. */
  index: number;
  trigger: 'SIGHUP' | 'control';
  signalAt: number;
  /** The processes that served before (in place: one generation; supervised: the workers). */
  oldPids: number[];
  ok: boolean;
  newPids: number[];
  /** Signal → verify learned the outcome (the new generation ready and serving, or the failure). */
  readyMs?: number;
  /** The new generation's own spawn → ready, as baton measured it. */
  spawnToReadyMs?: number;
  code?: string;
  message?: string;
  /** What the old processes held when the new generation took over. */
  holding?: ConnectionCounts;
  drained: DrainRecord[];
  /** Signal → each old process gone, by pid. */
  goneMs: Record<number, number>;
  /** In place: the new generation died within the settle time and the old one took its sockets back. */
  rolledBack?: string;
}

export interface ReloaderOptions {
  app: AppProcess;
  socket: string;
  mode: 'in-place' | 'supervised';
  trigger: Trigger;
  /** Longest wait for one reload's outcome. */
  outcomeTimeoutMs: number;
}

const STATUS_TIMEOUT_MS = 2000;
const POLL_MS = 100;

export class Reloader {
  readonly records: ReloadRecord[] = [];
  private readonly exchanges: ControlExchange[] = [];
  private closed = false;

  constructor(private readonly options: ReloaderOptions) {
    options.app.onEvent((event) => this.attach(event));
  }

  /** One reload, from the trigger to its outcome (success or failure); never throws. */
  async reload(index: number): Promise<ReloadRecord> {
    const before = await askStatus(this.options.socket, STATUS_TIMEOUT_MS).catch(() => undefined);
    const oldPids = before ? servingPids(before) : [];
    const record: ReloadRecord = {
      index,
      trigger: this.options.trigger === 'signal' ? 'SIGHUP' : 'control',
      signalAt: now(),
      oldPids,
      ok: false,
      newPids: [],
      drained: [],
      goneMs: {},
    };
    this.records.push(record);
    if (!before) {
      record.code = 'ERR_BATON_NO_ANSWER';
      record.message = `control socket ${this.options.socket} did not answer status before the reload`;
      return record;
    }
    if (this.options.trigger === 'control') await this.viaControl(record);
    else await this.viaSignal(record, before);
    for (const pid of record.ok ? record.oldPids : []) this.watchGone(record, pid);
    return record;
  }

  /** Waits (bounded) until every process a successful reload retired is gone. */
  async retiredGone(timeoutMs: number): Promise<void> {
    const until = now() + timeoutMs;
    while (this.stillRunning().length > 0 && now() < until) await sleep(50);
  }

  /** Old processes of successful reloads that still run (one that took its sockets back serves again). */
  stillRunning(): Array<{ pid: number; reload: number }> {
    return this.records.flatMap((r) =>
      r.ok && r.rolledBack === undefined
        ? r.oldPids.filter((pid) => isAlive(pid)).map((pid) => ({ pid, reload: r.index }))
        : [],
    );
  }

  close(): void {
    this.closed = true;
    for (const exchange of this.exchanges) exchange.close();
  }

  private async viaControl(record: ReloadRecord): Promise<void> {
    const exchange = sendControlRequest(this.options.socket, { command: 'reload' }, (event) => {
      if (event.type === 'drained') {
        noteDrain(record, {
          pid: event.pid,
          ...(event.durationMs !== undefined ? { durationMs: event.durationMs } : {}),
          ...(event.forced !== undefined ? { forced: event.forced } : {}),
          ...(event.exitCode !== undefined ? { exitCode: event.exitCode } : {}),
        });
      }
    });
    this.exchanges.push(exchange);
    const result = await Promise.race([
      exchange.result.catch((error: Error) => ({ failure: error })),
      deadline(this.options.outcomeTimeoutMs).then(() => 'timeout' as const),
    ]);
    if (result === 'timeout') {
      record.code = 'ERR_BATON_NO_OUTCOME';
      record.message = `no outcome ${this.options.outcomeTimeoutMs} ms after asking for the reload`;
      exchange.close();
      return;
    }
    if ('failure' in result) {
      record.code = 'ERR_BATON_NO_ANSWER';
      record.message = result.failure.message;
      return;
    }
    record.readyMs = Math.round(now() - record.signalAt);
    if (!result.ok) {
      const error = errorFromWire(result.error);
      record.code = error.code;
      record.message = error.message;
      exchange.close();
      return;
    }
    if (!('reload' in result)) {
      record.code = 'ERR_BATON_NO_ANSWER';
      record.message = 'the control socket answered without a reload outcome';
      return;
    }
    const outcome = result.reload;
    record.ok = true;
    record.newPids = outcome.pids;
    record.oldPids = outcome.previousPids;
    record.spawnToReadyMs = outcome.readyMs;
    const held = outcome.draining.flatMap((d) => (d.connections ? [d.connections] : []));
    if (held.length > 0) record.holding = sumCounts(held);
  }

  private async viaSignal(record: ReloadRecord, before: ControlStatus): Promise<void> {
    const pid = before.pid;
    const from = this.options.app.events.length;
    let settled = false;
    const byEvent = this.options.app
      .waitForEvent(
        (e) =>
          e.pid === pid && (e.event === 'handed-over' || e.event === 'reload-failed' || e.event === 'reload-ignored'),
        this.options.outcomeTimeoutMs,
        from,
      )
      .then((event) => (event ? ({ event } as const) : undefined));
    // In case the lines do not reach us (a logger configured in code that writes elsewhere): the status.
    const byStatus = (async () => {
      const until = now() + this.options.outcomeTimeoutMs;
      while (!settled && now() < until) {
        await sleep(POLL_MS * 5);
        const status = settled ? undefined : await tryStatus(this.options.socket, STATUS_TIMEOUT_MS);
        if (!status) continue;
        const changed = status.lastReload && status.lastReload.at !== before.lastReload?.at;
        if (this.options.mode === 'in-place' && status.pid !== pid) return { status } as const;
        if (changed) return { status } as const;
      }
      return undefined;
    })();
    record.signalAt = now();
    try {
      process.kill(pid, 'SIGHUP');
    } catch (error) {
      settled = true;
      record.code = 'ERR_BATON_NO_ANSWER';
      record.message = `cannot signal pid ${pid}: ${(error as Error).message}`;
      return;
    }
    const outcome = await Promise.race([byEvent, byStatus]);
    settled = true;
    record.readyMs = Math.round(now() - record.signalAt);
    if (outcome === undefined) {
      record.code = 'ERR_BATON_NO_OUTCOME';
      record.message = `no outcome ${this.options.outcomeTimeoutMs} ms after SIGHUP to pid ${pid}`;
      return;
    }
    if ('event' in outcome) {
      const { event } = outcome;
      if (event.event === 'handed-over') {
        record.ok = true;
        const successor = event.fields.successorPid;
        record.newPids = typeof successor === 'number' ? [successor] : [];
        if (typeof event.fields.readyMs === 'number') record.spawnToReadyMs = event.fields.readyMs;
        record.holding = countsOf(event.fields);
      } else {
        record.code =
          typeof event.fields.code === 'string'
            ? event.fields.code
            : event.event === 'reload-ignored'
              ? 'ERR_BATON_RETIRING'
              : 'ERR_BATON_UNKNOWN';
        record.message = event.msg.replace(/^reload failed, /, '');
      }
      return;
    }
    const status = outcome.status;
    const last = status.lastReload;
    if (this.options.mode === 'in-place' && status.pid !== pid) {
      record.ok = true;
      record.newPids = [status.pid];
    } else if (last?.ok) {
      record.ok = true;
      record.newPids = last.pids ?? (last.pid !== undefined ? [last.pid] : []);
      if (last.previousPids) record.oldPids = last.previousPids;
      if (last.readyMs !== undefined) record.spawnToReadyMs = last.readyMs;
    } else {
      record.code = last?.code ?? 'ERR_BATON_UNKNOWN';
      record.message = last?.message ?? 'the reload failed';
    }
  }

  /** Lifecycle lines about a retired process: its drain, its rollback. */
  private attach(event: BatonEvent): void {
    // A process that took its sockets back serves again: what it logs later is not about that reload.
    const record = [...this.records].reverse().find((r) => r.ok && r.oldPids.includes(event.pid));
    if (!record || (record.rolledBack !== undefined && event.event !== 'rolled-back')) return;
    if (event.event === 'drained') {
      const { durationMs, forced } = event.fields;
      noteDrain(record, {
        pid: event.pid,
        ...(typeof durationMs === 'number' ? { durationMs } : {}),
        ...(typeof forced === 'number' ? { forced } : {}),
      });
    } else if (event.event === 'rolled-back' && record.rolledBack === undefined) {
      record.rolledBack = event.msg.replace(/^rolled back: /, '');
    }
  }

  /** Notes when `pid` is gone (until the run ends), unless it took its sockets back meanwhile. */
  private watchGone(record: ReloadRecord, pid: number): void {
    void (async () => {
      while (!this.closed && isAlive(pid) && record.rolledBack === undefined) await sleep(50);
      if (!isAlive(pid) && record.rolledBack === undefined) record.goneMs[pid] = Math.round(now() - record.signalAt);
    })();
  }
}

/** One drain per pid: the control socket's report and the process's own line complete each other. */
function noteDrain(record: ReloadRecord, drain: DrainRecord): void {
  const known = record.drained.find((d) => d.pid === drain.pid);
  if (known) Object.assign(known, { ...drain, ...known });
  else record.drained.push(drain);
}

/** The pids serving now: in place the generation that answered, supervised the ready workers. */
function servingPids(status: ControlStatus): number[] {
  if (status.mode === 'in-place') return [status.pid];
  return status.generations.filter((g) => g.state === 'ready').map((g) => g.pid);
}

function countsOf(fields: Record<string, unknown>): ConnectionCounts | undefined {
  const { sockets, activeRequests, idle, upgraded } = fields;
  if (typeof sockets !== 'number') return undefined;
  return {
    sockets,
    activeRequests: typeof activeRequests === 'number' ? activeRequests : 0,
    idle: typeof idle === 'number' ? idle : 0,
    upgraded: typeof upgraded === 'number' ? upgraded : 0,
  };
}
