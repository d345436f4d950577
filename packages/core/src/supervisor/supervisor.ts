import { BatonError, errorToWire, isBatonError } from '../errors';
import { HANDOFF_VARIABLES, readInheritance, workerEnv } from '../wire/handoff-env';
import { sumCounts, type ReloadResult } from '../wire/types';
import { assertPidFileWritable, removePidFileIfOurs, writePidFile } from '../internal/pid-file';
import type http from 'node:http';
import type net from 'node:net';
import type { HeldSocket } from '../migration/move-connection';
import { createStderrLogger, LifecycleLog } from '../logger';
import { startHealthServer } from './health-server';
import { ControlServer } from '../control/server';
import { checkControlPath } from '../control/socket-path';
import type { ControlEvent, ControlStatus, ControlTarget, GenerationSummary, ReloadOutcome } from '../wire/control';
import { restartDelay, STABLE_AFTER_MS } from './backoff';
import { resolveWorkerCommand, type WorkerCommand } from './command';
import { bindListenFlag } from './listen-flags';
import { ListenerInventory } from './listener-inventory';
import { defaultControlPath, SUPERVISOR_DEFAULTS, type SupervisorOptions } from './options';
import { supervisorProcessHost, type SupervisorHost } from './host';
import { Worker, type WorkerExit } from './worker';

/** Variables a worker must not see: the supervisor owns the pid file, the control socket and systemd. */
const SUPERVISOR_ONLY_VARIABLES = ['BATON_PID_FILE', 'BATON_CONTROL', 'NOTIFY_SOCKET', 'WATCHDOG_PID', 'WATCHDOG_USEC'];
/** How long `baton status` waits for each worker's own numbers. */
const STATUS_TIMEOUT_MS = 2000;

type LastReload = NonNullable<ControlStatus['lastReload']>;
type Health = NonNullable<ControlStatus['health']>;

/** serving: N ready; degraded: fewer, but at least one; down: none. */
export function healthOf(ready: number, wanted: number): Health {
  return ready >= wanted ? 'serving' : ready > 0 ? 'degraded' : 'down';
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * `baton run`: a resident parent that holds the listening sockets and keeps one PID while workers
 * come and go. Invariants, as for in-place mode (DESIGN.md): one reload at a time (a request during a
 * reload shares its outcome); never fewer than N ready workers during a reload (the N new workers
 * start one at a time next to the N old ones, and no old worker is retired before every new one has
 * stayed up for the settle time); a new worker that fails at any moment before that aborts the
 * reload: the new workers are stopped and the old ones, never told anything, keep serving; a worker
 * that crashes while serving is restarted with exponential backoff (a kill sent from outside is
 * not a crash and does not grow it). Every child is reaped: Node waits for the ones it spawned.
 */
export class Supervisor implements ControlTarget {
  readonly log: LifecycleLog;
  private readonly startedAt: number;
  private readonly command: WorkerCommand;
  private readonly inventory = new ListenerInventory();
  private readonly workers = new Set<Worker>();
  /** Workers the last reloads retired, by pid, so `settle` can report the ones that already left. */
  private readonly retired = new Map<number, Worker>();
  private readonly baseEnv: NodeJS.ProcessEnv;
  private readonly controlPath: string | undefined;
  private control: ControlServer | undefined;
  private generation = 1;
  /** The generation a reload is starting, until it commits or aborts: its workers' exits are the reload's business. */
  private reloadingGeneration: number | undefined;
  /** Aborts the reload in flight (a stop signal arrived). */
  private abortReload: ((error: BatonError) => void) | undefined;
  /** Start-ups and reloads run one at a time, in order. */
  private queue: Promise<unknown> = Promise.resolve();
  private reloadInFlight: Promise<ReloadOutcome> | undefined;
  private fillTimer: NodeJS.Timeout | undefined;
  private consecutiveFailures = 0;
  private restarts = 0;
  private announcedReady = false;
  private lastReload: LastReload | undefined;
  private stopping = false;
  /** SIGTERM arrived and the shutdown delay runs: workers serve, the probes say not ready. */
  private delayTimer: NodeJS.Timeout | undefined;
  private health: http.Server | undefined;
  private resolveDone!: (code: number) => void;
  /** Resolves with the exit code once the supervisor has shut down. */
  readonly done = new Promise<number>((resolve) => (this.resolveDone = resolve));

  constructor(
    private readonly options: SupervisorOptions,
    private readonly host: SupervisorHost = supervisorProcessHost(),
  ) {
    this.startedAt = host.now();
    this.log = new LifecycleLog(createStderrLogger(options.logLevel, options.logFormat));
    this.command = resolveWorkerCommand(options.command, options.cwd);
    if (options.pidFile !== undefined) assertPidFileWritable(options.pidFile);
    const control = options.control ?? defaultControlPath(options.pidFile);
    this.controlPath = control === undefined ? undefined : checkControlPath(control);

    // systemd socket activation: the supervisor is the process LISTEN_PID names; workers get copies.
    const inherited = readInheritance(host.env, host.pid, host.ppid);
    if (inherited.source === 'systemd') {
      inherited.sockets.forEach((socket, i) =>
        this.inventory.addGiven(socket.fd, socket.name === 'unknown' ? `systemd-${i + 1}` : socket.name, 'systemd'),
      );
    }
    for (const value of options.listen) {
      const bound = bindListenFlag(value, options.cwd);
      this.inventory.addGiven(bound.handle.fd, bound.label, 'listen', bound.handle);
    }
    const env = { ...host.env };
    for (const name of [...HANDOFF_VARIABLES, ...SUPERVISOR_ONLY_VARIABLES]) delete env[name];
    // Workers drain with the supervisor's deadline, whatever their code configured.
    env.BATON_DRAIN_TIMEOUT_MS = String(options.drainTimeoutMs);
    this.baseEnv = env;
  }

  /** Writes the pid file, opens the control socket, installs signals, starts the workers. */
  async start(): Promise<void> {
    // The control socket first: if its path is taken, nothing (not even the pid file) has changed.
    if (this.controlPath !== undefined) {
      this.control = await ControlServer.bind(this.controlPath, this, this.log);
      this.log.info('control', `control socket ${this.controlPath} (mode 0600)`);
    }
    if (this.options.health !== undefined) {
      this.health = await startHealthServer(this.options.health, this.options.cwd, () => this.healthNow(), this.log);
    }
    if (this.options.pidFile !== undefined) writePidFile(this.options.pidFile, this.host.pid);
    this.installSignals();
    if (this.host.pid === 1) {
      this.log.warn(
        'pid1',
        'running as PID 1: baton reaps its own workers, but Node cannot reap orphaned grandchildren; use `docker run --init` or tini if the app spawns processes',
      );
    }
    const given = this.inventory.list().map((s) => s.name);
    this.log.info(
      'supervise',
      `supervisor pid ${this.host.pid}: ${this.options.workers} worker${this.options.workers === 1 ? '' : 's'} of \`${[this.command.file, ...this.command.args].join(' ')}\`${given.length ? ` on ${given.join(', ')}` : ''}`,
    );
    this.scheduleFill(0);
  }

  // ---- ControlTarget ------------------------------------------------------------------------

  reload(requesterPid?: number): Promise<ReloadOutcome> {
    if (this.reloadInFlight) return this.reloadInFlight;
    if (this.stopping || this.delayTimer)
      return Promise.reject(new BatonError('ERR_BATON_RETIRING', `supervisor pid ${this.host.pid} is shutting down`));
    this.reloadInFlight = this.serial(() => this.rollingReload(requesterPid)).finally(() => {
      this.reloadInFlight = undefined;
    });
    return this.reloadInFlight;
  }

  async status(): Promise<ControlStatus> {
    const list = [...this.workers];
    const statuses = await Promise.all(
      list.map((w) => (w.state === 'exited' ? undefined : w.status(STATUS_TIMEOUT_MS))),
    );
    const generations: GenerationSummary[] = list
      .filter((w) => w.state !== 'exited')
      .map((w) => {
        const own = statuses[list.indexOf(w)];
        return {
          pid: w.pid,
          generation: w.generation,
          state: w.state === 'draining' ? 'draining' : w.state === 'ready' ? 'ready' : 'starting',
          uptimeMs: this.host.now() - w.startedAt,
          ...(w.readyAt !== undefined ? { readyMs: w.readyAt - w.startedAt } : {}),
          ...(own ? { connections: own.connections } : {}),
          connectionsMoved: { in: w.movedIn, out: w.movedOut ?? own?.connectionsMoved?.out ?? 0 },
        } satisfies GenerationSummary;
      });
    const count = (state: GenerationSummary['state']): number => generations.filter((g) => g.state === state).length;
    const connections = sumCounts(generations.flatMap((g) => (g.connections ? [g.connections] : [])));
    // Derived from the workers that are ready now, never from what the supervisor once announced.
    const health = healthOf(count('ready'), this.options.workers);
    return {
      mode: 'supervised',
      pid: this.host.pid,
      phase:
        this.stopping || this.delayTimer
          ? 'stopping'
          : this.reloadInFlight
            ? 'reloading'
            : this.announcedReady
              ? health
              : 'starting',
      health,
      uptimeMs: this.host.now() - this.startedAt,
      workers: {
        wanted: this.options.workers,
        ready: count('ready'),
        starting: count('starting'),
        draining: count('draining'),
      },
      generations,
      connections,
      listeners: this.inventory.list().map((s) => ({ key: s.name, fd: s.fd })),
      restarts: this.restarts,
      ...(this.lastReload ? { lastReload: this.lastReload } : {}),
    };
  }

  /** Waits (bounded by the kill timers) for the workers a reload retired, reporting each exit. */
  async settle(
    outcome: ReloadOutcome,
    drained: (event: Extract<ControlEvent, { type: 'drained' }>) => void,
  ): Promise<void> {
    const retired = outcome.previousPids
      .map((pid) => this.retired.get(pid))
      .filter((w): w is Worker => w !== undefined);
    await Promise.all(
      retired.map(async (w) => {
        const exit = await w.exited;
        drained({
          type: 'drained',
          pid: w.pid,
          exitCode: exit.code,
          ...(w.drainResult ?? {}),
          ...(w.movedOut !== undefined ? { moved: w.movedOut } : {}),
        });
      }),
    );
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  /** SIGTERM/SIGINT: drain every worker politely, then exit 0. A second signal closes connections at once. */
  async stop(signal: string, exitCode = 0): Promise<void> {
    const delay = this.options.shutdownDelayMs ?? 0;
    if (!this.stopping && this.delayTimer === undefined && delay > 0 && exitCode === 0) {
      // Kubernetes endpoints and load balancers still send new connections for a while: the workers
      // serve them, the probes say not ready, and only then the drain starts.
      this.log.info('stop', `${signal}: workers keep serving for ${delay} ms (probes say not ready), then drain`);
      this.delayTimer = setTimeout(() => {
        this.log.info('stop', `shutdown delay of ${delay} ms over`);
        void this.stop(signal, exitCode);
      }, delay);
      return;
    }
    if (this.delayTimer !== undefined) {
      clearTimeout(this.delayTimer);
      this.delayTimer = undefined;
      if (!this.stopping) this.log.info('stop', `${signal}: ending the shutdown delay; draining now`);
    }
    if (this.stopping) {
      this.log.warn('stop', `${signal} again: telling workers to close their connections at once`);
      for (const w of this.workers) w.signal('SIGTERM');
      return;
    }
    this.stopping = true;
    clearTimeout(this.fillTimer);
    this.abortReload?.(
      new BatonError(
        'ERR_BATON_RETIRING',
        `reload cancelled by ${signal}: supervisor pid ${this.host.pid} is shutting down`,
      ),
    );
    const list = [...this.workers];
    this.log.info('stop', `${signal}: draining ${list.length} worker${list.length === 1 ? '' : 's'} and exiting`);
    void this.host.notify({ STOPPING: 1 });
    this.control?.close();
    // Our copies of the sockets go now, not after the drain: once the workers stop accepting, a
    // connection must be refused at once, not wait in a queue nobody reads until we exit. And before the
    // workers hear `retire`: a worker runs on another core, and one that kept a unix socket's second
    // name (unix-path-guard) while we removed the path would put it back after us.
    this.inventory.closeAll();
    this.health?.close();
    const exits = Promise.all(
      list.map((w) => {
        if (w.state === 'starting') return w.kill();
        if (w.state === 'ready' || w.state === 'draining') void w.retire('shutdown', this.options.drainTimeoutMs);
        return w.exited;
      }),
    );
    await exits;
    if (this.options.pidFile !== undefined) removePidFileIfOurs(this.options.pidFile, this.host.pid);
    this.control?.destroy();
    this.log.info('stopped', 'every worker has exited; supervisor exiting');
    this.resolveDone(exitCode);
  }

  private healthNow(): { ready: boolean; phase: string } {
    const ready = [...this.workers].filter((w) => w.state === 'ready').length;
    const stopping = this.stopping || this.delayTimer !== undefined;
    return {
      ready: !stopping && this.announcedReady && ready > 0,
      phase: stopping ? 'stopping' : healthOf(ready, this.options.workers),
    };
  }

  private installSignals(): void {
    this.host.onSignal('SIGHUP', () => {
      if (this.reloadInFlight) {
        this.log.info('reload-ignored', 'SIGHUP ignored: a reload is already in progress');
        return;
      }
      this.log.info('reload', 'SIGHUP: reloading');
      this.reload().catch(() => {
        // Logged by rollingReload; a signal has nobody else to tell.
      });
    });
    for (const signal of ['SIGTERM', 'SIGINT'] as const) this.host.onSignal(signal, () => void this.stop(signal));
    // The app's own use (log rotation, heap snapshots): pass it on to every worker.
    this.host.onSignal('SIGUSR2', () => {
      for (const w of this.workers) w.signal('SIGUSR2');
    });
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private scheduleFill(delayMs: number): void {
    if (this.stopping || this.fillTimer) return;
    this.fillTimer = setTimeout(() => {
      this.fillTimer = undefined;
      void this.serial(() => this.fill());
    }, delayMs);
  }

  private liveWorkers(): Worker[] {
    return [...this.workers].filter((w) => w.state === 'starting' || w.state === 'ready');
  }

  /** Starts workers (one at a time) until N serve; on a failure, tries again after a backoff. */
  private async fill(): Promise<void> {
    while (!this.stopping && this.liveWorkers().length < this.options.workers) {
      const worker = this.spawnWorker(this.generation);
      try {
        await this.awaitReady(worker);
      } catch (error) {
        if (this.stopping) return;
        if (!this.announcedReady && isBatonError(error, 'ERR_BATON_SPAWN_FAILED')) {
          // The command itself is wrong (not found, not executable): retrying cannot help.
          this.log.error('worker-failed', `${error.message}; exiting`);
          void this.stop('start-up failure', 1);
          return;
        }
        if (worker.exitInfo && worker.killedFromOutside(worker.exitInfo)) {
          // Someone else's SIGKILL/SIGTERM, not the build's fault: try again at once, backoff unchanged.
          this.log.warn(
            'worker-failed',
            `${(error as Error).message}; the signal came from outside baton, not counted as a crash; trying again in 0 ms`,
            { delayMs: 0 },
          );
          this.scheduleFill(0);
          return;
        }
        this.consecutiveFailures += 1;
        const delay = restartDelay(this.consecutiveFailures);
        this.log.error('worker-failed', `${(error as Error).message}; trying again in ${delay} ms`, { delayMs: delay });
        this.scheduleFill(delay);
        return;
      }
    }
    if (!this.announcedReady && !this.stopping) {
      this.announcedReady = true;
      void this.host.notify({ READY: 1, STATUS: `${this.options.workers} workers serving` });
      this.log.info(
        'ready',
        `serving with ${this.options.workers} worker${this.options.workers === 1 ? '' : 's'}: ${this.liveWorkers()
          .map((w) => w.pid)
          .join(', ')}`,
      );
    }
  }

  /** Starts one worker of `generation` and registers it; awaitReady() waits for it. */
  private spawnWorker(generation: number): Worker {
    const plan = Worker.plan({
      command: this.command,
      cwd: this.options.cwd,
      env: { ...this.baseEnv, ...workerEnv(this.inventory.names(), this.host.pid) },
      fds: this.inventory.fds(),
      generation,
    });
    const worker = new Worker(this.host.spawn(plan), generation, () => this.host.now());
    this.workers.add(worker);
    worker.on('listener', (key: string, handle) => {
      if (this.inventory.learn(key, handle))
        this.log.info('listener', `holding ${key} (fd ${handle.fd}) from worker ${worker.pid}`);
    });
    worker.on('reload', (id: number) => this.onWorkerReloadRequest(worker, id));
    worker.on('connection', (key: string, socket: net.Socket, held: HeldSocket) =>
      this.relayConnection(worker, key, socket, held),
    );
    worker.on('self-retire', () => {
      // A new worker of a reload in progress: the reload aborts (see rollingReload).
      if (this.stopping || worker.generation === this.reloadingGeneration) return;
      this.log.warn(
        'worker-retiring',
        `worker ${worker.pid} is draining on its own (signalled directly?); starting a replacement`,
      );
      this.scheduleFill(0);
    });
    worker.once('exit', (exit: WorkerExit) => this.onWorkerExit(worker, exit));
    this.log.debug('spawn', `starting worker ${worker.pid} (generation ${generation})`);
    return worker;
  }

  /** Resolves once `worker` is ready; if it fails to start, it was killed and reaped and this rejects. */
  private async awaitReady(worker: Worker): Promise<{ worker: Worker; readyMs: number }> {
    const readyMs = await worker.waitReady(this.options.readyTimeoutMs);
    const via = worker.helloPid !== undefined && worker.helloPid !== worker.pid ? ` (app pid ${worker.helloPid})` : '';
    this.log.info(
      'worker-ready',
      `worker ${worker.pid}${via} ready in ${readyMs} ms (generation ${worker.generation})`,
      { workerPid: worker.pid, readyMs },
    );
    return { worker, readyMs };
  }

  private onWorkerExit(worker: Worker, exit: WorkerExit): void {
    this.workers.delete(worker);
    const how = exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
    if (exit.state === 'draining') {
      const drained = worker.drainResult;
      const moved = worker.movedOut ? `, ${plural(worker.movedOut, 'connection')} moved to other workers` : '';
      const detail = drained
        ? ` after draining ${(drained.durationMs / 1000).toFixed(1)} s${moved}${drained.forced ? `, ${drained.forced} connections closed by force` : ''}`
        : '';
      this.log.info('worker-exited', `worker ${worker.pid} ${how}${detail}`, { workerPid: worker.pid });
      return;
    }
    // A worker that fails while starting is reported by whoever waited for it to be ready; a new
    // worker of a reload in progress, by the reload, which aborts.
    if (exit.state !== 'ready' || this.stopping || worker.generation === this.reloadingGeneration) return;
    this.restarts += 1;
    if (worker.killedFromOutside(exit)) {
      // An operator's kill, a script's, the OOM killer's: not a crash of the build. Replace it at
      // once and leave the crash count (and so the backoff) as it was.
      this.log.warn(
        'worker-killed',
        `worker ${worker.pid} ${how} while serving; starting a replacement in 0 ms (the signal came from outside baton: not counted as a crash)`,
        {
          workerPid: worker.pid,
          delayMs: 0,
        },
      );
      this.scheduleFill(0);
      return;
    }
    const servedMs = this.host.now() - (worker.readyAt ?? worker.startedAt);
    if (servedMs >= STABLE_AFTER_MS) this.consecutiveFailures = 0;
    this.consecutiveFailures += 1;
    const delay = restartDelay(this.consecutiveFailures);
    this.log.error(
      'worker-crashed',
      `worker ${worker.pid} ${how} while serving; starting a replacement in ${delay} ms`,
      { workerPid: worker.pid, delayMs: delay },
    );
    this.scheduleFill(delay);
  }

  /**
   * A worker draining for a reload handed over an idle client connection (issue 13): pass it on to a
   * ready worker of the newest generation that serves `key`, the one that has received the fewest so
   * far. The socket is not reading (Worker stopped it on arrival), so whatever the client sends next
   * waits in the kernel for that worker. Once sent, the socket here is a husk with no descriptor:
   * destroying it closes nothing and lets Node forget it (the sender's server.close() waits for that).
   * With no worker to take it, it is closed: the client sees its idle keep-alive connection end.
   */
  private relayConnection(from: Worker, key: string, socket: net.Socket, held: HeldSocket): void {
    const target = this.connectionTargetFor(from, key);
    if (target === undefined) {
      this.log.debug('relay', `no ready worker serves ${key} for a connection worker ${from.pid} handed over; closed`, {
        workerPid: from.pid,
        key,
      });
      socket.destroy();
      return;
    }
    target.movedIn += 1;
    const failed = (): void => {
      target.movedIn -= 1;
      this.log.debug('relay', `worker ${target.pid} could not take a connection from worker ${from.pid}; closed`, {
        workerPid: from.pid,
        key,
      });
      // Node may have taken the descriptor off the socket for a send that never completed (the worker
      // died meanwhile): then nothing else closes it, and the client would wait on a dead connection.
      held.closeIfOrphaned();
      socket.destroy();
    };
    target.sendConnection(key, socket).then((sent) => (sent ? socket.destroy() : failed()), failed);
  }

  /** Where a handed-over connection goes: a ready worker of the newest generation serving `key`, or none. */
  private connectionTargetFor(from: Worker, key: string): Worker | undefined {
    if (this.stopping) return undefined;
    const ready = [...this.workers].filter(
      (w) => w !== from && w.state === 'ready' && (w.keys === undefined || w.keys.includes(key)),
    );
    const newest = Math.max(...ready.map((w) => w.generation));
    return ready
      .filter((w) => w.generation === newest)
      .reduce<Worker | undefined>((best, w) => (best === undefined || w.movedIn < best.movedIn ? w : best), undefined);
  }

  private onWorkerReloadRequest(worker: Worker, id: number): void {
    this.log.info('reload', `worker ${worker.pid} asked for a reload`);
    this.reload(worker.pid).then(
      (outcome) => {
        // The worker that asked was retired last, so the newest worker is the one that took its place.
        const index = outcome.previousPids.indexOf(worker.pid);
        const pid = outcome.pids[
          index >= 0 ? Math.min(index, outcome.pids.length - 1) : outcome.pids.length - 1
        ] as number;
        const result: ReloadResult = {
          pid,
          previousPid: worker.pid,
          readyMs: outcome.readyMs,
          pids: outcome.pids,
          previousPids: outcome.previousPids,
        };
        worker.send({ baton: 'reload-result', id, ok: true, result });
      },
      (error: unknown) => {
        worker.send({ baton: 'reload-result', id, ok: false, error: errorToWire(error) });
      },
    );
  }

  /**
   * A rolling reload that never trades old capacity for new code that has not proven itself:
   *
   * 1. Start the N new workers one at a time, each ready before the next starts, while every old
   *    worker keeps serving (so up to 2N workers run for a while).
   * 2. Wait until the newest has been ready for the settle time (`settleMs`; the earlier ones have
   *    been up longer): a build that dies on its first requests dies here.
   * 3. Only then retire the old workers, the one whose reload() asked (the /upgrade handler's) last.
   *
   * A new worker that exits, fails to start, or starts to drain on its own before step 3 aborts the
   * reload: the new workers are stopped (the ready ones drain politely, a starting one is killed)
   * and the old workers, never told anything, keep serving. From step 3 on the reload has committed:
   * a new worker that dies after that is a crash while serving, restarted like any other.
   */
  private async rollingReload(requesterPid: number | undefined): Promise<ReloadOutcome> {
    const started = this.host.now();
    const generation = this.generation + 1;
    const old = this.liveWorkers().sort((a, b) => Number(a.pid === requesterPid) - Number(b.pid === requesterPid));
    const wanted = this.options.workers;
    const settleMs = this.options.settleMs ?? SUPERVISOR_DEFAULTS.settleMs;
    void this.host.notify({ RELOADING: 1, MONOTONIC_USEC: this.host.monotonicUsec() });
    this.log.info(
      'reload',
      `rolling reload to generation ${generation}: starting ${plural(wanted, 'new worker')} one at a time next to the ${plural(old.length, 'old one')}; the old ones retire once every new one has stayed up ${settleMs} ms`,
    );
    const fresh: Array<{ worker: Worker; readyMs: number }> = [];
    const draining: ReloadOutcome['draining'] = [];
    const retire = async (worker: Worker | undefined): Promise<void> => {
      if (!worker || worker.state === 'exited') return;
      this.retired.set(worker.pid, worker);
      // Only the recent past matters to a waiting `baton reload`.
      if (this.retired.size > 256) this.retired.delete(this.retired.keys().next().value as number);
      // Its idle client connections move to the new workers, through us (see relayConnection).
      await worker.retire('reload', this.options.drainTimeoutMs, true);
      const c = worker.drainingConnections;
      draining.push({ pid: worker.pid, ...(c ? { connections: c } : {}) });
      const what = c ? `${c.sockets} connections (${c.activeRequests} requests in flight)` : 'its connections';
      this.log.info('retire', `worker ${worker.pid} retiring: draining ${what}`, {
        workerPid: worker.pid,
        ...(c ?? {}),
      });
    };

    // Whatever happens to a new worker before the commit rejects `aborted`; every wait races it.
    let abort!: (error: BatonError) => void;
    const aborted = new Promise<never>((_, reject) => (abort = reject));
    aborted.catch(() => undefined);
    const unwatch: Array<() => void> = [];
    const watch = (worker: Worker): void => {
      const onExit = (exit: WorkerExit): void => abort(this.newWorkerFailed(worker, exit, settleMs));
      const onSelfRetire = (): void =>
        abort(
          new BatonError(
            'ERR_BATON_CHILD_EXITED',
            `new worker pid ${worker.pid} started to drain on its own (signalled directly?) during the reload`,
            { pid: worker.pid },
          ),
        );
      worker.once('exit', onExit);
      worker.once('self-retire', onSelfRetire);
      unwatch.push(() => {
        worker.off('exit', onExit);
        worker.off('self-retire', onSelfRetire);
      });
    };
    const stillServing = (): void => {
      const gone = fresh.find((f) => f.worker.state !== 'ready');
      if (gone) {
        const exit = gone.worker.exitInfo;
        throw exit
          ? this.newWorkerFailed(gone.worker, exit, settleMs)
          : new BatonError(
              'ERR_BATON_CHILD_EXITED',
              `new worker pid ${gone.worker.pid} stopped serving during the reload`,
              { pid: gone.worker.pid },
            );
      }
    };
    this.reloadingGeneration = generation;
    this.abortReload = abort;
    let settleTimer: NodeJS.Timeout | undefined;
    try {
      for (let step = 0; step < wanted; step += 1) {
        if (this.stopping)
          throw new BatonError('ERR_BATON_RETIRING', `supervisor pid ${this.host.pid} is shutting down`);
        const worker = this.spawnWorker(generation);
        fresh.push(await Promise.race([this.awaitReady(worker), aborted]));
        watch(worker);
        stillServing();
      }
      const settleUntil = Math.max(...fresh.map((f) => f.worker.readyAt ?? this.host.now())) + settleMs;
      const waitMs = settleUntil - this.host.now();
      if (waitMs > 0) {
        this.log.info(
          'settle',
          `generation ${generation}: ${plural(fresh.length, 'new worker')} ready; waiting ${waitMs} ms (settle time ${settleMs} ms) before retiring the old ones`,
        );
        await Promise.race([new Promise<void>((resolve) => (settleTimer = setTimeout(resolve, waitMs))), aborted]);
      }
      stillServing();
    } catch (error) {
      clearTimeout(settleTimer);
      for (const stop of unwatch) stop();
      this.abortReload = undefined;
      throw await this.abortRolling(generation, old, error);
    } finally {
      // Committed or aborted: from here on a new worker's death is an ordinary crash.
      this.reloadingGeneration = undefined;
    }
    for (const stop of unwatch) stop();
    this.abortReload = undefined;
    // Committed: every new worker has stayed up the settle time. Now, and only now, the old ones go.
    this.generation = generation;
    this.consecutiveFailures = 0;
    for (const worker of old) await retire(worker);
    // Only when every new worker said which keys it serves (a wrapper or an old core may not).
    if (fresh.every((f) => f.worker.keys !== undefined)) {
      const dropped = this.inventory.forgetUnused(new Set(fresh.flatMap((f) => f.worker.keys ?? [])));
      if (dropped.length > 0)
        this.log.info('listener', `generation ${generation} no longer listens on ${dropped.join(', ')}: closed`);
    }
    const outcome: ReloadOutcome = {
      mode: 'supervised',
      pids: fresh.map((f) => f.worker.pid),
      previousPids: old.map((w) => w.pid),
      readyMs: Math.max(0, ...fresh.map((f) => f.readyMs)),
      durationMs: this.host.now() - started,
      draining,
    };
    this.lastReload = {
      ok: true,
      at: new Date().toISOString(),
      pid: outcome.pids[outcome.pids.length - 1] as number,
      readyMs: outcome.readyMs,
      pids: outcome.pids,
      previousPids: outcome.previousPids,
    };
    void this.host.notify({ READY: 1, STATUS: `generation ${generation}: ${outcome.pids.length} workers serving` });
    this.log.info(
      'reloaded',
      `reload done in ${outcome.durationMs} ms: workers ${outcome.previousPids.join(', ') || '(none)'} -> ${outcome.pids.join(', ')}`,
    );
    return outcome;
  }

  /** The error for a new worker that died (or was stopped) after it was ready, before the reload committed. */
  private newWorkerFailed(worker: Worker, exit: WorkerExit, settleMs: number): BatonError {
    if (this.stopping)
      return new BatonError(
        'ERR_BATON_RETIRING',
        `reload cancelled: supervisor pid ${this.host.pid} is shutting down`,
        { pid: worker.pid },
      );
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
    const after =
      worker.readyAt !== undefined
        ? ` ${this.host.now() - worker.readyAt} ms after it was ready (settle time ${settleMs} ms)`
        : '';
    const code = worker.readyAt !== undefined ? 'ERR_BATON_ROLLED_BACK' : 'ERR_BATON_CHILD_EXITED';
    return new BatonError(code, `new worker pid ${worker.pid} ${how}${after}`, {
      pid: worker.pid,
      exitCode: exit.code,
      signal: exit.signal,
    });
  }

  /**
   * A reload that did not commit: stop every worker of `generation` (a ready one drains politely:
   * it has accepted connections; a starting one is killed), record and log the failure once, and
   * return the error to reject with. The old workers were never told anything.
   */
  private async abortRolling(generation: number, old: Worker[], error: unknown): Promise<BatonError> {
    const cause = isBatonError(error)
      ? error
      : new BatonError('ERR_BATON_SPAWN_FAILED', String((error as Error)?.message ?? error));
    if (this.stopping) {
      // stop() retires or kills every worker, the new ones included.
      const failure = isBatonError(cause, 'ERR_BATON_RETIRING')
        ? cause
        : new BatonError('ERR_BATON_RETIRING', `reload cancelled: supervisor pid ${this.host.pid} is shutting down`, {
            cause,
          });
      this.lastReload = { ok: false, at: new Date().toISOString(), code: failure.code, message: failure.message };
      this.log.error('reload-failed', `reload failed: ${failure.message}`, { code: failure.code });
      return failure;
    }
    const mine = [...this.workers].filter((w) => w.generation === generation && w.state !== 'exited');
    await Promise.all(
      // A ready new worker's idle connections move back to the old workers, which keep serving.
      mine.map((w) => (w.state === 'starting' ? w.kill() : w.retire('reload', this.options.drainTimeoutMs, true))),
    );
    const stopped =
      mine.length > 0
        ? `; stopped the ${plural(mine.length, 'new worker')} of generation ${generation} still running (${mine.map((w) => w.pid).join(', ')})`
        : '';
    const left = old.filter((w) => w.state === 'ready');
    // Replacements for old workers that crashed meanwhile start from the command on disk: that is the new build.
    const short =
      left.length < this.options.workers
        ? ` (${left.length} of ${this.options.workers} ready; replacements for the others start from the command on disk, which is the new build)`
        : '';
    // Sockets only the new build asked for: nobody serves them now, so clients are refused instead of queued.
    if (left.length > 0 && left.every((w) => w.keys !== undefined)) {
      const dropped = this.inventory.forgetUnused(new Set(left.flatMap((w) => w.keys ?? [])));
      if (dropped.length > 0)
        this.log.info(
          'listener',
          `generation ${generation} was the only one to listen on ${dropped.join(', ')}: closed`,
        );
    }
    const failure = new BatonError(cause.code, `${cause.message}${stopped}; the old workers keep serving${short}`, {
      ...(cause.pid !== undefined ? { pid: cause.pid } : {}),
      ...(cause.exitCode !== undefined ? { exitCode: cause.exitCode } : {}),
      ...(cause.signal !== undefined ? { signal: cause.signal } : {}),
      cause,
    });
    this.lastReload = { ok: false, at: new Date().toISOString(), code: failure.code, message: failure.message };
    this.log.error('reload-failed', `reload failed: ${failure.message}`, { code: failure.code });
    void this.host.notify({ READY: 1 });
    return failure;
  }
}
