import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { DrainTracker, sumCounts, type ConnectionCounts } from '../drain-tracker';
import { BatonError } from '../errors';
import { createStderrLogger, LifecycleLog } from '../logger';
import { optionsFromEnv, resolveOptions, validateOptions, type BatonOptions, type ResolvedOptions } from '../options';
import { claimInherited, closeUnclaimed, HANDOFF_VARIABLES, handoffEnv, readInheritance, type Inheritance } from './handoff-env';
import { parseListenArgs } from './listen-args';
import { assertPidFileWritable, readPidFile, removePidFileIfOurs, writePidFile } from './pid-file';
import { installSignalHandlers } from './signals';
import { startSuccessor, successorCommand, type ReadySuccessor } from './successor';
import { SupervisorLink } from '../supervisor/worker-link';
import { InPlaceControl } from '../control/in-place';
import { notifySystemd } from './sd-notify';
import { wrapperWarning } from './wrapper-check';

/**
 * starting: listen() called, not ready yet; serving: ready; reloading: serving while a successor starts;
 * retiring: handed over or shutting down, draining, about to exit.
 */
export type Phase = 'idle' | 'starting' | 'serving' | 'reloading' | 'retiring';

export interface ReloadResult {
  /** pid of the new generation, now serving. */
  pid: number;
  previousPid: number;
  /** From spawn to the successor's ready message. */
  readyMs: number;
  /** Under `baton run`: every new worker, and every worker it replaced. */
  pids?: number[];
  previousPids?: number[];
}

export interface DrainInfo {
  reason: 'reload' | 'shutdown';
  /** WebSocket and other upgraded sockets: close them (e.g. with 1012 Service Restart). */
  upgradedSockets: Duplex[];
}
export type DrainHook = (info: DrainInfo) => void | Promise<void>;

export interface ListenerStatus {
  key: string;
  fd: number | undefined;
  listening: boolean;
  connections: ConnectionCounts;
}

export interface LastReload {
  ok: boolean;
  at: string;
  pid?: number;
  readyMs?: number;
  code?: string;
  message?: string;
}

export interface Status {
  pid: number;
  phase: Phase;
  mode: 'plain' | 'successor' | 'socket-activated' | 'supervised';
  predecessorPid?: number;
  /** Under `baton run`: the supervisor's pid, which stays the same across reloads. */
  supervisorPid?: number;
  successorPid?: number;
  uptimeMs: number;
  readyMs?: number;
  listeners: ListenerStatus[];
  connections: ConnectionCounts;
  lastReload?: LastReload;
}

interface Listener {
  key: string;
  server: net.Server;
  tracker: DrainTracker;
  listening: boolean;
}

function handleFd(server: net.Server): number | undefined {
  // Undocumented but stable on unix: the listening handle's descriptor; -1 on Windows.
  const fd = (server as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** `tcp:*:0 (port 41235)`: the key the code asked for, and where it really listens when that differs. */
function describeListener(listener: Listener): string {
  const address = listener.server.address();
  if (address === null || typeof address === 'string') return listener.key;
  return listener.key.endsWith(`:${address.port}`) ? listener.key : `${listener.key} (port ${address.port})`;
}

/**
 * One process serving the listeners: the state machine behind listen(), ready(), reload() and the
 * signals. Invariants (DESIGN.md): one reload at a time; this generation never stops accepting until
 * its successor is ready; a failed successor is killed and changes nothing here.
 */
export class Generation {
  private readonly startedAt = Date.now();
  /** Captured at start-up: a successor starts where this process started, whatever chdir() did since. */
  private readonly startCwd = process.cwd();
  private readonly log = new LifecycleLog(createStderrLogger('info'));
  private readonly listeners: Listener[] = [];
  private readonly drainHooks: DrainHook[] = [];
  private readonly exitHooks: Array<() => void | Promise<void>> = [];
  private codeOptions: BatonOptions = {};
  private options: ResolvedOptions = resolveOptions({}, {});
  private inheritance: Inheritance = { source: 'none', sockets: [] };
  private inheritanceError: BatonError | undefined;
  private phase: Phase = 'idle';
  private readyAt: number | undefined;
  private appReady = false;
  private readyCheckQueued = false;
  private reloadInFlight: Promise<ReloadResult> | undefined;
  private successorPid: number | undefined;
  private lastReload: LastReload | undefined;
  private stopSignals = 0;
  private retiring = false;
  /** Set in a worker of `baton run`: reloads, readiness and retirement go through the supervisor. */
  private readonly supervisor: SupervisorLink | undefined;
  private control: InPlaceControl | undefined;

  constructor() {
    try {
      this.inheritance = readInheritance(process.env, process.pid, process.ppid);
    } catch (error) {
      this.inheritanceError = error as BatonError;
    }
    this.supervisor = SupervisorLink.forProcess(this.inheritance.supervisorPid);
    // The app's own child processes must never see (and adopt) our sockets.
    for (const name of HANDOFF_VARIABLES) delete process.env[name];
  }

  configure(options: BatonOptions): void {
    const valid = validateOptions(options);
    this.codeOptions = { ...this.codeOptions, ...valid };
    if (this.phase !== 'idle') this.applyOptions();
  }

  onDrain(hook: DrainHook): void {
    this.drainHooks.push(hook);
  }

  onExit(hook: () => void | Promise<void>): void {
    this.exitHooks.push(hook);
  }

  /** Binds, or adopts the inherited socket with the same key. Returns the server, like net's listen(). */
  listen<S extends net.Server>(server: S, args: unknown[]): S {
    if (this.phase === 'idle') this.start();
    const request = parseListenArgs(args, this.startCwd);
    const sameKey = this.listeners.filter((l) => l.key === request.key || l.key.startsWith(`${request.key}#`)).length;
    // Two listen(0) calls ask for two sockets: the Nth call of a key claims the Nth socket of that key.
    const key = sameKey === 0 ? request.key : `${request.key}#${sameKey + 1}`;
    const listener: Listener = { key, server, tracker: new DrainTracker(server), listening: false };
    this.listeners.push(listener);
    const inherited = claimInherited(this.inheritance, key);
    server.once('listening', () => {
      listener.listening = true;
      // Under `baton run` the supervisor keeps a copy of a socket bound here, for the next workers.
      if (!inherited) this.supervisor?.listener(key, server);
      this.queueReadyCheck();
    });

    if (inherited) {
      const from =
        this.inheritance.source === 'baton'
          ? `pid ${this.inheritance.predecessorPid}`
          : this.inheritance.source === 'supervisor'
            ? `supervisor pid ${this.inheritance.supervisorPid}`
            : 'systemd';
      this.log.debug('adopt', `${key}: adopting fd ${inherited.fd} from ${from}`, { key, fd: inherited.fd });
      // Node learns a pipe's name only from listen(path): without this, address() is null after adopting.
      if (request.options.path !== undefined) (server as unknown as { _pipeName?: string })._pipeName = request.options.path;
      server.listen({ fd: inherited.fd, ...(request.options.backlog ? { backlog: request.options.backlog } : {}) }, request.callback);
    } else {
      server.listen(request.options, request.callback);
    }
    return server;
  }

  /** Marks the app's own start-up as done (readiness 'manual'); harmless in 'auto'. */
  ready(): void {
    this.appReady = true;
    this.queueReadyCheck();
  }

  reload(): Promise<ReloadResult> {
    // One reload at a time: whoever asks while one is starting shares its outcome.
    if (this.reloadInFlight) return this.reloadInFlight;
    this.reloadInFlight = this.runReload().finally(() => {
      this.reloadInFlight = undefined;
    });
    return this.reloadInFlight;
  }

  status(): Status {
    const listeners = this.listeners.map((l) => ({
      key: l.key,
      fd: handleFd(l.server),
      listening: l.server.listening,
      connections: l.tracker.counts(),
    }));
    const source = this.inheritance.source;
    const mode = source === 'baton' ? 'successor' : source === 'systemd' ? 'socket-activated' : source === 'supervisor' ? 'supervised' : 'plain';
    return {
      pid: process.pid,
      phase: this.phase,
      mode,
      ...(this.inheritance.predecessorPid !== undefined ? { predecessorPid: this.inheritance.predecessorPid } : {}),
      ...(this.successorPid !== undefined ? { successorPid: this.successorPid } : {}),
      ...(this.supervisor ? { supervisorPid: this.supervisor.supervisorPid } : {}),
      uptimeMs: Date.now() - this.startedAt,
      ...(this.readyAt !== undefined ? { readyMs: this.readyAt - this.startedAt } : {}),
      listeners,
      connections: sumCounts(listeners.map((l) => l.connections)),
      ...(this.lastReload ? { lastReload: this.lastReload } : {}),
    };
  }

  /** First listen(): settle options (a bad BATON_* value stops start-up here), signals, warnings. */
  private start(): void {
    if (this.inheritanceError) throw this.inheritanceError;
    this.applyOptions();
    this.phase = 'starting';
    this.appReady = this.options.readiness === 'auto';
    if (this.options.handleSignals) {
      installSignalHandlers({
        onReload: () => this.onReloadSignal(),
        onStop: (signal) => this.onStopSignal(signal),
      });
    }
    if (this.supervisor) {
      this.supervisor.attach({
        retire: (reason) => void this.retire(reason),
        status: () => this.status(),
        orphaned: () => {
          this.log.warn('orphaned', `supervisor pid ${this.supervisor?.supervisorPid} is gone; draining and exiting`);
          void this.retire('shutdown');
        },
      });
    } else if (this.options.control !== undefined) {
      // In-place mode: the control socket travels with the listeners, so it outlives every reload.
      this.control = InPlaceControl.start(this.options.control, this.inheritance, this, this.log);
    }
    if (this.inheritance.source === 'none') {
      const warning = wrapperWarning(process.env, process.pid, process.ppid, this.options.pidFile !== undefined);
      if (warning) this.log.warn('wrapper', warning);
    }
  }

  private applyOptions(): void {
    const options = resolveOptions(this.codeOptions, optionsFromEnv(process.env));
    if (options.pidFile !== undefined) assertPidFileWritable(options.pidFile);
    this.options = options;
    this.log.use(options.logger ?? createStderrLogger(options.logLevel));
  }

  private queueReadyCheck(): void {
    if (this.phase !== 'starting' || this.readyCheckQueued) return;
    this.readyCheckQueued = true;
    // One turn later: code that calls listen() for several servers in a row gets them all in.
    setImmediate(() => {
      this.readyCheckQueued = false;
      if (this.phase === 'starting' && this.appReady && this.listeners.every((l) => l.listening)) this.becomeReady();
    });
  }

  private becomeReady(): void {
    this.phase = 'serving';
    this.readyAt = Date.now();
    const closed = closeUnclaimed(this.inheritance);
    if (closed.length > 0) this.log.info('close-unused', `closed inherited fds the new code does not listen on: ${closed.join(', ')}`);
    const keys = this.listeners.map((l) => describeListener(l)).join(', ');
    try {
      // Under `baton run` the pid file names the supervisor, and the supervisor writes it.
      if (this.options.pidFile !== undefined && !this.supervisor) writePidFile(this.options.pidFile, process.pid);
    } catch (error) {
      this.log.error('pid-file', (error as Error).message);
      // A successor that cannot take over the pid file must not take over at all.
      if (this.inheritance.predecessorPid !== undefined) process.exit(1);
    }
    if (this.supervisor) {
      this.supervisor.ready(this.listeners.map((l) => l.key));
      this.log.info('ready', `worker ${process.pid} ready ${this.readyAt - this.startedAt} ms after loading baton, on ${keys}; telling supervisor pid ${this.supervisor.supervisorPid}`);
    } else if (this.inheritance.predecessorPid !== undefined) {
      notifySystemd({ MAINPID: process.pid, READY: 1 });
      // With a callback, a predecessor that is already gone is an error to log, not an uncaught 'error' event.
      process.send?.({ baton: 'ready', pid: process.pid }, undefined, {}, (error) => {
        if (error) this.log.error('ready', `cannot tell pid ${this.inheritance.predecessorPid} that this generation is ready: ${error.message}`);
      });
      this.log.info('ready', `generation ${process.pid} ready ${this.readyAt - this.startedAt} ms after loading baton, on ${keys}; telling pid ${this.inheritance.predecessorPid}`);
    } else {
      notifySystemd({ READY: 1 });
      this.log.info('ready', `serving on ${keys} (pid ${process.pid})`);
    }
  }

  private async runReload(): Promise<ReloadResult> {
    if (this.phase === 'idle' || this.phase === 'starting') {
      throw new BatonError('ERR_BATON_NOT_LISTENING', `pid ${process.pid} cannot reload before it is ready (phase ${this.phase})`);
    }
    if (this.phase === 'retiring') {
      const to = this.successorPid !== undefined ? `; pid ${this.successorPid} serves now` : '';
      throw new BatonError('ERR_BATON_RETIRING', `pid ${process.pid} is retiring and cannot reload${to}`);
    }
    // Under `baton run` the supervisor replaces the workers one by one and tells us how it went.
    if (this.supervisor) return this.supervisor.requestReload();
    if (process.platform === 'win32') {
      throw new BatonError('ERR_BATON_UNSUPPORTED', 'reload is not supported on Windows: listening sockets cannot be inherited');
    }
    const handed = this.listeners.filter((l) => l.server.listening);
    const fds = handed.map((l) => handleFd(l.server));
    const missing = handed.find((_listener, i) => fds[i] === undefined);
    if (missing) throw new BatonError('ERR_BATON_UNSUPPORTED', `${missing.key}: the listening socket has no file descriptor to hand over`);
    const keys = handed.map((l) => l.key);
    const control = this.control?.handoff();
    if (control) {
      keys.push(control.key);
      fds.push(control.fd);
    }
    const command = successorCommand();
    if (command.dropped.length > 0) this.log.warn('reload', `the next generation runs without ${command.dropped.join(' ')}`);

    this.phase = 'reloading';
    notifySystemd({ RELOADING: 1, MONOTONIC_USEC: process.hrtime.bigint() / 1000n });
    this.log.info('reload', `starting next generation: ${[command.file, ...command.args].join(' ')}`);
    let successor: ReadySuccessor;
    try {
      successor = await startSuccessor({
        command,
        cwd: this.startCwd,
        env: { ...process.env, ...handoffEnv(keys, process.pid) },
        fds: fds as number[],
        readyTimeoutMs: this.options.readyTimeoutMs,
        onSpawn: (pid) => this.log.debug('reload', `next generation is pid ${pid}`),
      });
    } catch (error) {
      const failure = error as BatonError;
      // Nothing changed here: keep serving, and let the next reload try again.
      this.phase = 'serving';
      // A successor killed between writing the pid file and saying ready must not leave its pid there.
      if (this.options.pidFile !== undefined && failure.pid !== undefined && readPidFile(this.options.pidFile) === failure.pid) {
        writePidFile(this.options.pidFile, process.pid);
      }
      this.lastReload = { ok: false, at: new Date().toISOString(), code: failure.code, message: failure.message };
      this.log.error('reload-failed', `reload failed, still serving as pid ${process.pid}: ${failure.message}`, { code: failure.code });
      notifySystemd({ READY: 1 });
      if (this.stopSignals > 0) this.retire('shutdown');
      throw error;
    }
    this.successorPid = successor.pid;
    this.lastReload = { ok: true, at: new Date().toISOString(), pid: successor.pid, readyMs: successor.readyMs };
    const counts = sumCounts(this.listeners.map((l) => l.tracker.counts()));
    this.log.info(
      'handed-over',
      `generation ${successor.pid} ready in ${successor.readyMs} ms; draining ${counts.sockets} connections (${counts.activeRequests} requests in flight)`,
      { successorPid: successor.pid, readyMs: successor.readyMs, ...counts },
    );
    this.phase = 'retiring';
    // Let the caller of reload() (the /upgrade handler) answer first; its response gets Connection: close.
    setImmediate(() => void this.retire('reload'));
    return { pid: successor.pid, previousPid: process.pid, readyMs: successor.readyMs };
  }

  private onReloadSignal(): void {
    if (this.phase === 'retiring') {
      const to = this.successorPid !== undefined ? ` (pid ${this.successorPid} serves now)` : '';
      this.log.info('reload-ignored', `SIGHUP ignored: pid ${process.pid} is retiring${to}`);
      return;
    }
    if (this.reloadInFlight) {
      this.log.info('reload-ignored', 'SIGHUP ignored: a reload is already in progress');
      return;
    }
    this.log.info('reload', 'SIGHUP: reloading');
    this.reload().catch(() => {
      // Already logged by runReload; a signal has nobody else to tell.
    });
  }

  private onStopSignal(signal: NodeJS.Signals): void {
    this.stopSignals += 1;
    if (this.stopSignals > 1) {
      const forced = this.listeners.reduce((n, l) => n + l.tracker.destroyAll(), 0);
      this.log.warn('stop', `${signal} again: closed ${forced} connections at once; exiting`);
      this.exit();
      return;
    }
    if (this.phase === 'reloading') {
      // The reload settles (its successor is killed or takes over), then this process retires.
      this.log.info('stop', `${signal}: will drain and exit once the reload in progress settles`);
      return;
    }
    if (this.phase === 'retiring') {
      this.log.info('stop', `${signal}: already draining; send it again to close at once`);
      return;
    }
    this.log.info('stop', `${signal}: draining and exiting`);
    void this.retire('shutdown');
  }

  /** Drain every listener politely, run the app's hooks, exit 0. */
  private async retire(reason: 'reload' | 'shutdown'): Promise<void> {
    if (this.retiring) return;
    this.retiring = true;
    this.phase = 'retiring';
    const started = Date.now();
    const deadline = this.options.drainTimeoutMs;
    const upgradedSockets = this.listeners.flatMap((l) => l.tracker.upgradedSockets());
    // Under `baton run` the supervisor keeps every socket (and removes unix paths at its own exit).
    const handedOver = reason === 'reload' || this.supervisor !== undefined;
    this.supervisor?.draining(sumCounts(this.listeners.map((l) => l.tracker.counts())));
    this.control?.close(handedOver);
    const drains = Promise.all(this.listeners.map((l) => l.tracker.drain(deadline, handedOver)));
    for (const hook of this.drainHooks) {
      Promise.resolve()
        .then(() => hook({ reason, upgradedSockets }))
        .catch((error: unknown) => this.log.error('drain-hook', `onDrain hook failed: ${(error as Error)?.message ?? error}`));
    }
    const results = await drains;
    const forced = results.reduce((n, r) => n + r.forced, 0);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    if (forced > 0) this.log.warn('drained', `drain deadline of ${deadline} ms reached: closed ${forced} connections by force; exiting`, { forced });
    else this.log.info('drained', `drained in ${seconds} s; exiting`, { durationMs: Date.now() - started });
    this.supervisor?.drained(Date.now() - started, forced);
    await this.runExitHooks(deadline);
    this.exit();
  }

  /** The app's clean-up (close pools, flush logs), bounded so a stuck hook cannot keep us alive. */
  private async runExitHooks(timeoutMs: number): Promise<void> {
    const hooks = this.exitHooks.map(async (hook) => {
      try {
        await hook();
      } catch (error) {
        this.log.error('exit-hook', `onExit hook failed: ${(error as Error)?.message ?? error}`);
      }
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.log.warn('exit-hook', `onExit hooks still running after ${timeoutMs} ms; exiting anyway`);
        resolve();
      }, timeoutMs);
    });
    await Promise.race([Promise.all(hooks), timeout]);
    clearTimeout(timer);
  }

  private exit(): void {
    // After a handover the file names the successor; only a final shutdown removes it.
    if (this.options.pidFile !== undefined) removePidFileIfOurs(this.options.pidFile, process.pid);
    process.exit(0);
  }
}

/** The one generation this process is. */
export const generation = new Generation();
