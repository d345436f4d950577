import net from 'node:net';
import tls from 'node:tls';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { DrainTracker, type DrainResult } from '../drain-tracker';
import { BatonError, errorToWire } from '../errors';
import { parseListenArgs } from '../internal/listen-args';
import { sideServerWarning, signalCollisionWarning, unmanagedServers } from '../internal/neighbours';
import { removeSocketFile } from '../internal/unix-path-guard';
import { adoptConnection } from '../migration/adopt-connection';
import { RELOAD_SIGNAL, STOP_SIGNALS } from '../internal/signals';
import { createStderrLogger, LifecycleLog } from '../logger';
import { optionsFromEnv, resolveOptions, validateOptions, type BatonOptions, type ResolvedOptions } from '../options';
import { claimInherited, closeUnclaimed, describeSource, type Inheritance } from '../wire/handoff-env';
import type { RetireReason } from '../wire/ipc';
import { sumCounts, type Health, type LastReload, type Phase, type ReloadResult, type Status } from '../wire/types';
import type { Host } from './host';
import type { GenerationPort, HandoffSockets, Upstream } from './upstream';

export interface DrainInfo {
  reason: RetireReason;
  /** WebSocket and other upgraded sockets: close them (e.g. with 1012 Service Restart). */
  upgradedSockets: Duplex[];
}
export type DrainHook = (info: DrainInfo) => void | Promise<void>;
export type ExitHook = () => void | Promise<void>;

interface Listener {
  key: string;
  server: net.Server;
  tracker: DrainTracker;
  listening: boolean;
  /** A unix socket adopted from a predecessor: libuv will not unlink a path it did not bind. */
  adoptedPath?: string;
}

function handleFd(server: net.Server): number | undefined {
  // Undocumented but stable on unix: the listening handle's descriptor; -1 on Windows.
  const fd = (server as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** `tcp:*:0 (port 41235)`: the key the code asked for, and where it really listens when that differs. */
/** `1 connection`, `3 connections`. */
function connections(count: number): string {
  return `${count} connection${count === 1 ? '' : 's'}`;
}

function describeListener(listener: Listener): string {
  const address = listener.server.address();
  if (address === null || typeof address === 'string') return listener.key;
  return listener.key.endsWith(`:${address.port}`) ? listener.key : `${listener.key} (port ${address.port})`;
}

/**
 * One process serving the listeners: the state machine behind listen(), ready(), reload() and the
 * signals. Invariants (DESIGN.md): one reload at a time; this generation never stops accepting until
 * its successor is ready; a failed successor is killed and changes nothing here.
 *
 * What differs by role (in place or under `baton run`) is the `upstream`, chosen once before this
 * object exists; every side effect on the process goes through `host`. Neither is asked again which
 * mode this is.
 */
export class Generation {
  private readonly startedAt: number;
  private readonly log = new LifecycleLog(createStderrLogger('info'));
  private readonly listeners: Listener[] = [];
  private readonly drainHooks: DrainHook[] = [];
  private readonly exitHooks: ExitHook[] = [];
  private readonly inheritance: Inheritance;
  private codeOptions: BatonOptions = {};
  private options: ResolvedOptions = resolveOptions({}, {});
  private phase: Phase = 'idle';
  private readyAt: number | undefined;
  private appReady = false;
  private readyCheckQueued = false;
  private reloadInFlight: Promise<ReloadResult> | undefined;
  private lastReload: LastReload | undefined;
  private stopSignals = 0;
  private retiring = false;
  /** Warnings about the app's neighbours already given: each is said once. */
  private readonly warned = new Set<string>();
  private drainRun: Promise<{ results: DrainResult[]; startedAt: number }> | undefined;
  /** Client connections the previous generation handed to this one (issue 13). */
  private connectionsMovedIn = 0;

  /**
   * `inherited`: what this process was handed (readInheritance), or the error reading it raised, which
   * the first listen() throws: a broken handoff must stop the app where its code can see it.
   */
  constructor(
    private readonly host: Host,
    private readonly upstream: Upstream,
    private readonly inherited: Inheritance | BatonError,
  ) {
    this.startedAt = host.now();
    this.inheritance = inherited instanceof BatonError ? { source: 'none', sockets: [] } : inherited;
  }

  configure(options: BatonOptions): void {
    const valid = validateOptions(options);
    this.codeOptions = { ...this.codeOptions, ...valid };
    if (this.phase !== 'idle') this.applyOptions();
  }

  onDrain(hook: DrainHook): void {
    this.drainHooks.push(hook);
  }

  onExit(hook: ExitHook): void {
    this.exitHooks.push(hook);
  }

  /** Binds, or adopts the inherited socket with the same key. Returns the server, like net's listen(). */
  listen<S extends net.Server>(server: S, args: unknown[]): S {
    if (this.phase === 'idle') this.start();
    const request = parseListenArgs(args, this.host.startCwd);
    const sameKey = this.listeners.filter((l) => l.key === request.key || l.key.startsWith(`${request.key}#`)).length;
    // Two listen(0) calls ask for two sockets: the Nth call of a key claims the Nth socket of that key.
    const key = sameKey === 0 ? request.key : `${request.key}#${sameKey + 1}`;
    const listener: Listener = { key, server, tracker: new DrainTracker(server), listening: false };
    this.listeners.push(listener);
    const inherited = claimInherited(this.inheritance, key);
    server.once('listening', () => {
      listener.listening = true;
      if (!inherited) this.upstream.bound(key, server);
      this.queueReadyCheck();
    });

    if (inherited) {
      const from = describeSource(this.inheritance);
      this.log.debug('adopt', `${key}: adopting fd ${inherited.fd} from ${from}`, { key, fd: inherited.fd });
      // Node learns a pipe's name only from listen(path): without this, address() is null after adopting.
      if (request.options.path !== undefined) {
        (server as unknown as { _pipeName?: string })._pipeName = request.options.path;
        listener.adoptedPath = request.options.path;
      }
      const backlog = request.options.backlog ? { backlog: request.options.backlog } : {};
      server.listen({ fd: inherited.fd, ...backlog }, request.callback);
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
    return {
      pid: this.host.pid,
      phase: this.phase,
      mode: this.upstream.mode,
      ...this.upstream.relations(),
      uptimeMs: this.host.now() - this.startedAt,
      ...(this.readyAt !== undefined ? { readyMs: this.readyAt - this.startedAt } : {}),
      listeners,
      connections: sumCounts(listeners.map((l) => l.connections)),
      connectionsMoved: {
        in: this.connectionsMovedIn,
        out: this.listeners.reduce((n, l) => n + l.tracker.moved, 0),
      },
      ...(this.lastReload ? { lastReload: this.lastReload } : {}),
    };
  }

  /** Ready while serving (a reload in progress still serves); not while starting, stopping or retiring. */
  health(): Health {
    return { ready: this.phase === 'serving' || this.phase === 'reloading', live: true, phase: this.phase };
  }

  /** First listen(): settle options (a bad BATON_* value stops start-up here), signals, the role. */
  private start(): void {
    if (this.inherited instanceof BatonError) throw this.inherited;
    this.applyOptions();
    this.phase = 'starting';
    this.appReady = this.options.readiness === 'auto';
    if (this.options.handleSignals) {
      this.host.onSignal(RELOAD_SIGNAL, () => this.onReloadSignal());
      for (const signal of STOP_SIGNALS) this.host.onSignal(signal, (s) => this.onStopSignal(s));
    }
    this.upstream.start(this.port());
  }

  /** The view of this generation its role gets. */
  private port(): GenerationPort {
    return {
      log: this.log,
      options: () => this.options,
      status: () => this.status(),
      reload: () => this.reload(),
      handoff: () => this.handoff(),
      retire: (reason) => this.retire(reason),
      standBy: () => this.standBy(),
      resume: (handles, why) => this.resume(handles, why),
      adoptConnection: (key, socket) => this.adoptConnection(key, socket),
    };
  }

  private applyOptions(): void {
    this.options = resolveOptions(this.codeOptions, optionsFromEnv(this.host.env));
    this.log.use(this.options.logger ?? createStderrLogger(this.options.logLevel, this.options.logFormat));
  }

  private handoff(): HandoffSockets {
    const handed = this.listeners.filter((l) => l.server.listening);
    const fds: number[] = [];
    for (const listener of handed) {
      const fd = handleFd(listener.server);
      if (fd === undefined)
        throw new BatonError(
          'ERR_BATON_UNSUPPORTED',
          `${listener.key}: the listening socket has no file descriptor to hand over`,
        );
      fds.push(fd);
    }
    return { keys: handed.map((l) => l.key), fds };
  }

  private queueReadyCheck(): void {
    if (this.phase !== 'starting' || this.readyCheckQueued) return;
    this.readyCheckQueued = true;
    // One turn later: code that calls listen() for several servers in a row gets them all in.
    this.host.nextTurn(() => {
      this.readyCheckQueued = false;
      if (this.phase === 'starting' && this.appReady && this.listeners.every((l) => l.listening)) this.becomeReady();
    });
  }

  private becomeReady(): void {
    this.phase = 'serving';
    this.readyAt = this.host.now();
    const closed = closeUnclaimed(this.inheritance);
    if (closed.length > 0)
      this.log.info('close-unused', `closed inherited fds the new code does not listen on: ${closed.join(', ')}`);
    const described = this.listeners.map((l) => describeListener(l)).join(', ');
    this.warnAboutNeighbours();
    this.upstream.ready(
      this.listeners.map(({ key, server }) => ({ key, server })),
      described,
      this.readyAt - this.startedAt,
    );
  }

  private async runReload(): Promise<ReloadResult> {
    if (this.phase === 'idle' || this.phase === 'starting') {
      throw new BatonError(
        'ERR_BATON_NOT_LISTENING',
        `pid ${this.host.pid} cannot reload before it is ready (phase ${this.phase})`,
      );
    }
    if (this.phase === 'retiring' || this.phase === 'standby') {
      const successor = this.upstream.relations().successorPid;
      const to = successor !== undefined ? `; pid ${successor} serves now` : '';
      throw new BatonError('ERR_BATON_RETIRING', `pid ${this.host.pid} has handed over and cannot reload${to}`);
    }
    if (this.phase === 'stopping') {
      throw new BatonError('ERR_BATON_RETIRING', `pid ${this.host.pid} is stopping and cannot reload`);
    }
    this.phase = 'reloading';
    this.warnAboutNeighbours();
    let result: ReloadResult;
    try {
      result = await this.upstream.reload();
    } catch (error) {
      const failure = errorToWire(error);
      // Nothing changed here: keep serving, and let the next reload try again.
      if (this.phase === 'reloading') this.phase = 'serving';
      this.lastReload = {
        ok: false,
        at: new Date(this.host.now()).toISOString(),
        code: failure.code,
        message: failure.message,
      };
      const now = this.stopSignals > 0 ? 'stopping as asked' : 'still serving';
      this.log.error('reload-failed', `reload failed, ${now} as pid ${this.host.pid}: ${failure.message}`, {
        code: failure.code,
      });
      if (this.stopSignals > 0) this.retire('shutdown');
      throw error;
    }
    this.lastReload = {
      ok: true,
      at: new Date(this.host.now()).toISOString(),
      pid: result.pid,
      readyMs: result.readyMs,
    };
    // In place the upstream has already handed over; under `baton run` the supervisor retires us.
    if (this.phase === 'reloading') this.phase = 'serving';
    if (this.stopSignals > 0 && this.phase === 'serving') this.retire('shutdown');
    return result;
  }

  private onReloadSignal(): void {
    if (this.phase === 'retiring' || this.phase === 'standby' || this.phase === 'stopping') {
      const successor = this.upstream.relations().successorPid;
      const to = successor !== undefined ? ` (pid ${successor} serves now)` : '';
      this.log.info(
        'reload-ignored',
        `SIGHUP ignored: pid ${this.host.pid} is ${this.phase === 'stopping' ? 'stopping' : 'retiring'}${to}`,
      );
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
      // Invariant 8: a stop beats a reload. The successor still starting is killed; the reload fails
      // and this generation drains and exits (runReload sees the stop), so the service stops.
      this.log.info(
        'stop',
        `${signal}: the reload in progress ends first (a successor still starting is killed), then this generation drains and exits`,
      );
      this.upstream.cancelReload(signal);
      return;
    }
    if (this.phase === 'standby') {
      // The successor serves already: this one stops waiting to take the sockets back.
      const successor = this.upstream.relations().successorPid;
      this.log.info('stop', `${signal}: handed over to pid ${successor}; draining and exiting now`);
      this.retire('reload');
      return;
    }
    if (this.phase === 'retiring' || this.phase === 'stopping') {
      this.log.info('stop', `${signal}: already stopping; send it again to close at once`);
      return;
    }
    const delay = this.options.shutdownDelayMs;
    if (delay > 0 && this.phase === 'serving') {
      // Kubernetes and load balancers keep sending new connections for a while after SIGTERM: serve
      // them normally, report not ready, and only then drain.
      this.phase = 'stopping';
      this.log.info(
        'stop',
        `${signal}: still accepting for ${delay} ms (reporting not ready), then draining and exiting`,
      );
      this.host.setTimeout(() => {
        this.log.info('stop', `shutdown delay of ${delay} ms over: draining and exiting`);
        this.retire('shutdown');
      }, delay);
      return;
    }
    this.log.info('stop', `${signal}: draining and exiting`);
    this.retire('shutdown');
  }

  /**
   * Other SIGHUP listeners (a framework's shutdown hooks) and servers bound outside baton (metrics,
   * probes) break every reload in ways that are hard to trace back: name them, with the fix, once.
   */
  private warnAboutNeighbours(): void {
    const warnings: Array<[string, string]> = [];
    if (this.options.handleSignals) {
      // Ours: the one handler start() installed for each.
      for (const signal of [RELOAD_SIGNAL, ...STOP_SIGNALS] as NodeJS.Signals[]) {
        const others = this.host.signalListenerCount(signal) - 1;
        if (others > 0) warnings.push(['signal-collision', signalCollisionWarning(signal, others)]);
      }
    }
    const control = this.options.control === undefined ? undefined : `unix:${path.resolve(this.options.control)}`;
    const managed = new Set(this.listeners.map((l) => l.server));
    const side = unmanagedServers(this.host.activeHandles(), managed).filter((address) => address !== control);
    if (side.length > 0) warnings.push(['side-server', sideServerWarning(side)]);
    for (const [event, message] of warnings) {
      if (this.warned.has(message)) continue;
      this.warned.add(message);
      this.log.warn(event, message);
    }
  }

  /**
   * Handed over, in the rollback window: stop accepting here (the sockets live on) and drain politely
   * (clients move to the successor), but do not exit: the role either retires this generation once the
   * successor has settled, or resumes it if the successor died.
   */
  private standBy(): void {
    this.phase = 'standby';
    void this.startDrain('reload').then(({ results, startedAt }) => {
      // Still in the window with no client left (moved or closed): say when that happened.
      if (this.phase !== 'standby' || results.some((r) => r.resumed || r.forced > 0)) return;
      const durationMs = this.host.now() - startedAt;
      const moved = results.reduce((n, r) => n + r.moved, 0);
      const closed = results.reduce((n, r) => n + r.closed, 0);
      this.log.info(
        'emptied',
        `no client connection left ${durationMs} ms after handing over (${moved} moved to the next generation, ${closed} closed here); standing by`,
        { durationMs, moved, closed },
      );
    });
  }

  /** The successor died within the settle time: accept again on our own sockets and serve as before. */
  private resume(handles: ReadonlyMap<string, unknown>, why: string): string[] {
    if (this.phase !== 'standby') return this.listeners.map((l) => l.key);
    const missing: string[] = [];
    for (const l of this.listeners) {
      l.tracker.resume();
      const handle = handles.get(l.key);
      if (handle === undefined) missing.push(l.key);
      // A TCP handle is adopted as it is; a pipe handle by its fd (net.Server#listen takes either).
      else l.server.listen(handle as net.ListenOptions);
    }
    this.drainRun = undefined;
    this.phase = 'serving';
    this.lastReload = {
      ok: false,
      at: new Date(this.host.now()).toISOString(),
      code: 'ERR_BATON_ROLLED_BACK',
      message: why,
    };
    return missing;
  }

  /**
   * Serves a client connection the previous generation handed over on the server with the same key.
   * Only a plain http server can take one (the sender checks as much); anything else is closed.
   */
  private adoptConnection(key: string, socket: unknown): void {
    if (!(socket instanceof net.Socket)) return;
    const listener = this.listeners.find((l) => l.key === key);
    if (listener === undefined || listener.server instanceof tls.Server) {
      this.log.debug('adopt', `no plain http listener ${key} here for a connection handed over; closing it`, { key });
      socket.destroy();
      return;
    }
    if (adoptConnection(listener.server, socket)) this.connectionsMovedIn += 1;
  }

  /** Drains every listener, runs the hooks, exits 0. From now on this generation cannot reload. */
  private retire(reason: RetireReason): void {
    if (this.retiring) return;
    this.retiring = true;
    const alreadyDraining = this.phase === 'standby';
    this.phase = 'retiring';
    // Replaced: the caller of reload() (an /upgrade handler) answers first, on this turn, and its
    // response still gets Connection: close. Stopping: every response from now on gets it.
    if (reason === 'reload' && !alreadyDraining) this.host.nextTurn(() => void this.finish(reason));
    else void this.finish(reason);
  }

  /** The drain (started now, or in the rollback window), then the exit hooks, then exit. */
  private async finish(reason: RetireReason): Promise<void> {
    const { results, startedAt } = await this.startDrain(reason);
    if (results.some((r) => r.resumed)) return;
    const budget = this.options.drainTimeoutMs;
    const forced = results.reduce((n, r) => n + r.forced, 0);
    const moved = results.reduce((n, r) => n + r.moved, 0);
    const closed = results.reduce((n, r) => n + r.closed, 0);
    const elapsed = this.host.now() - startedAt;
    // Per reload: how many connections the next generation took over, and how many ended here.
    const handedOn = moved > 0 ? `moved ${connections(moved)} to the next generation, ${closed} closed here; ` : '';
    if (forced > 0)
      this.log.warn(
        'drained',
        `drain deadline of ${budget} ms reached: ${handedOn}closed ${forced} connections by force; exiting`,
        { forced, moved, closed },
      );
    else
      this.log.info('drained', `drained in ${(elapsed / 1000).toFixed(1)} s; ${handedOn}exiting`, {
        durationMs: elapsed,
        moved,
        closed,
      });
    this.upstream.drained(elapsed, forced, moved);
    // One budget for the whole stop: the hooks get what the drain left of it.
    await this.runExitHooks(budget, Math.max(0, budget - (this.host.now() - startedAt)));
    this.exit();
  }

  /**
   * Starts the polite drain of every listener once (later calls share it) and runs the onDrain hooks
   * at its start. Resolves when every connection closed or the deadline closed them, or when a
   * rollback resumed the listeners.
   */
  private startDrain(reason: RetireReason): Promise<{ results: DrainResult[]; startedAt: number }> {
    if (this.drainRun) return this.drainRun;
    const startedAt = this.host.now();
    const deadline = this.options.drainTimeoutMs;
    const upgradedSockets = this.listeners.flatMap((l) => l.tracker.upgradedSockets());
    const counts = sumCounts(this.listeners.map((l) => l.tracker.counts()));
    if (this.upstream.socketsLiveOn(reason)) {
      for (const l of this.listeners) l.tracker.handOverListener();
    } else {
      // The last process to serve a unix socket it adopted removes the path, so the next start can bind it.
      for (const l of this.listeners.filter((l) => l.adoptedPath !== undefined)) {
        l.tracker.stopAccepting();
        removeSocketFile(l.adoptedPath as string);
      }
    }
    // Asked before draining() may let the successor's channel go.
    const target = this.options.migrateConnections ? this.upstream.connectionTarget(reason) : undefined;
    // Told once this generation no longer accepts: a successor waits for that to take over the pid file.
    this.upstream.draining(reason, counts);
    const drains = Promise.all(
      this.listeners.map((l) => l.tracker.drain(deadline, target && ((socket: net.Socket) => target(l.key, socket)))),
    );
    // The hooks start with the drain (close WebSockets now, not after) and are awaited, within its deadline.
    const hooks = this.runHooks(this.drainHooks, 'onDrain', (hook) => hook({ reason, upgradedSockets }));
    const hooksWithin = this.within(hooks, deadline, () =>
      this.log.warn(
        'drain-hook',
        `onDrain hooks still running when the drain deadline of ${deadline} ms ran out; going on`,
      ),
    );
    this.drainRun = Promise.all([drains, hooksWithin]).then(([results]) => ({ results, startedAt }));
    return this.drainRun;
  }

  /** The app's clean-up (close pools, flush logs), cut when the stop budget runs out. */
  private async runExitHooks(budgetMs: number, timeoutMs: number): Promise<void> {
    if (this.exitHooks.length === 0) return;
    const hooks = this.runHooks(this.exitHooks, 'onExit', (hook) => hook());
    await this.within(hooks, timeoutMs, () =>
      this.log.warn(
        'exit-hook',
        `onExit hooks still running when the stop budget of ${budgetMs} ms ran out; exiting anyway`,
      ),
    );
  }

  /** Runs every hook at once; a failing hook is logged and does not stop the others. */
  private runHooks<H>(hooks: H[], kind: 'onDrain' | 'onExit', call: (hook: H) => void | Promise<void>): Promise<void> {
    const event = kind === 'onDrain' ? 'drain-hook' : 'exit-hook';
    return Promise.all(
      hooks.map((hook) =>
        Promise.resolve()
          .then(() => call(hook))
          .catch((error: unknown) =>
            this.log.error(event, `${kind} hook failed: ${(error as Error)?.message ?? error}`),
          ),
      ),
    ).then(() => undefined);
  }

  /** Waits for `work`, but no longer than `ms`; `onTimeout` says what was cut. */
  private async within(work: Promise<void>, ms: number, onTimeout: () => void): Promise<void> {
    let timer: { unref(): void } | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = this.host.setTimeout(() => {
        onTimeout();
        resolve();
      }, ms);
    });
    await Promise.race([work, timeout]);
    this.host.clearTimeout(timer);
  }

  private exit(): void {
    this.upstream.exiting();
    this.host.exit(0);
  }
}
