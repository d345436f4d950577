// `baton verify`: start the app as the service runs it, put it under mixed load, reload it N times the
// way an operator does, stop it with SIGTERM, and report everything that was lost on the way.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULTS, optionsFromEnv } from '../options';
import type { ControlStatus } from '../wire/control';
import { accountRequests, AFTER_RELOAD_MS, digestFailures, type FailureRecord } from './accounting';
import { AppProcess, type AppExit } from './app-process';
import { deadline, now, sleep } from './clock';
import { isServing, tryStatus } from './control-status';
import { recordedExits, withExitProbe } from './exits';
import { listenerTargets, targetOfUrl, type ListenerTarget } from './listeners';
import { loadShapeFor, startMixedLoad, type MixedLoad } from './load';
import type { VerifyOptions } from './options';
import { accepts, isDefinitiveRefusal, probe } from './probe';
import { commandLine, isAlive, listeningSocketsOf, pidsWithVariable } from './proc';
import type { ProgressSink } from './progress';
import { countFailures } from './recorder';
import { Reloader, type ReloadRecord } from './reloads';
import type { KindReport, LeftProcess, Reason, StopReport, VerifyReport } from './report';
import { getRoutes } from './routes';
import { describeTarget, type HttpTarget } from './target';
import { reasonsOf, type ForcedClose } from './verdict';

/** Every process of the app carries this variable (a fresh id per run): how leftovers are found. */
export const RUN_VARIABLE = 'BATON_VERIFY_RUN';
/** Latency is measured on the keep-alive clients: a new connection per request adds its own handshake. */
export const LATENCY_KINDS = ['undici', 'agent', 'idle'];
const WARMUP_MS = 500;
const STATUS_TIMEOUT_MS = 2000;
/** After the stop, how long the app's other processes get to go before they count as left behind. */
const LEFTOVER_GRACE_MS = 2000;

/** The baton settings the app will run with, as far as its environment says (code may change them). */
export interface Settings {
  readyTimeoutMs: number;
  drainTimeoutMs: number;
  settleMs: number;
  shutdownDelayMs: number;
}

/** Throws ERR_BATON_INVALID_OPTION for a bad BATON_* value, as the app itself would at start-up. */
export function settingsFrom(env: NodeJS.ProcessEnv): Settings {
  const fromEnv = optionsFromEnv(env);
  return {
    readyTimeoutMs: fromEnv.readyTimeoutMs ?? DEFAULTS.readyTimeoutMs,
    drainTimeoutMs: fromEnv.drainTimeoutMs ?? DEFAULTS.drainTimeoutMs,
    settleMs: fromEnv.settleMs ?? DEFAULTS.settleMs,
    shutdownDelayMs: fromEnv.shutdownDelayMs ?? DEFAULTS.shutdownDelayMs,
  };
}

/** A run that cannot go on (the app did not start, a path does not answer): the one reason why. */
class Stop extends Error {
  constructor(readonly reason: Reason) {
    super(reason.message);
  }
}

export class VerifyRun {
  private readonly runId = randomUUID();
  private readonly dir: string;
  private readonly socket: string;
  private readonly exitFile: string;
  private readonly settings: Settings;
  private readonly mode: 'in-place' | 'supervised';
  private readonly trigger: 'signal' | 'control';
  private app: AppProcess | undefined;
  private reloader: Reloader | undefined;
  private load: MixedLoad | undefined;
  private readonly startedAt = now();
  private listeners: ListenerTarget[] = [];
  private target: { address: HttpTarget; from: string } | undefined;
  private readonly listeningSockets: Array<{ pid: number; sockets: string[] }> = [];
  private signals: number[] = [];
  private steadyFrom = 0;
  private lastServingPid: number | undefined;
  private upgradedAtStop: number | undefined;
  private killed: number[] = [];

  constructor(
    private readonly options: VerifyOptions,
    private readonly progress: ProgressSink,
  ) {
    this.settings = settingsFrom(options.env ?? process.env);
    this.mode = options.supervised ? 'supervised' : 'in-place';
    this.trigger = options.trigger ?? (options.supervised ? 'control' : 'signal');
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-verify-'));
    this.socket = path.join(this.dir, 'control.sock');
    this.exitFile = path.join(this.dir, 'exits.jsonl');
  }

  async execute(): Promise<VerifyReport> {
    let early: Reason | undefined;
    let stop: StopReport = { exited: false, note: 'never stopped' };
    try {
      const status = await this.start();
      await this.preflight(status);
      await this.underLoad();
    } catch (error) {
      if (!(error instanceof Stop)) {
        this.abort();
        throw error;
      }
      early = error.reason;
    } finally {
      if (this.load) await Promise.race([this.load.stop(), deadline(this.options.requestTimeoutMs + 5000)]);
    }
    try {
      if (this.app && !early) await this.waitForRetired();
      if (this.app) stop = await this.stopApp();
      const leftBehind = await this.leftBehind(early !== undefined);
      return this.report(stop, leftBehind, early);
    } catch (error) {
      this.abort();
      throw error;
    } finally {
      this.reloader?.close();
      this.app?.close();
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
  }

  /** Kills every process of the app now, by pid (verify itself was interrupted). */
  abort(): void {
    for (const pid of this.appPids()) signal(pid, 'SIGKILL');
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private async start(): Promise<ControlStatus> {
    const { options } = this;
    const base = { ...(options.env ?? process.env) };
    const env: NodeJS.ProcessEnv = {
      ...base,
      BATON_LOG_FORMAT: 'json',
      BATON_LOG: base.BATON_LOG === 'debug' ? 'debug' : 'info',
      [RUN_VARIABLE]: this.runId,
      BATON_VERIFY_EXIT_FILE: this.exitFile,
      NODE_OPTIONS: withExitProbe(base.NODE_OPTIONS),
    };
    let file: string;
    let args: string[];
    if (this.mode === 'supervised') {
      delete env.BATON_CONTROL;
      file = process.execPath;
      args = [
        // The CLI of this copy of @baton/core, unless told otherwise.
        options.batonBin ?? path.join(__dirname, '..', 'cli', 'main.js'),
        'run',
        '--control',
        this.socket,
        '--workers',
        String(options.workers),
        '--log-format',
        'json',
        '--',
        ...options.command,
      ];
    } else {
      env.BATON_CONTROL = this.socket;
      [file, ...args] = options.command as [string, ...string[]];
    }
    const app = new AppProcess({
      file,
      args,
      env,
      ...(options.cwd ? { cwd: options.cwd } : {}),
      ...(options.appLog ? { logFile: options.appLog } : {}),
    });
    this.app = app;
    this.reloader = new Reloader({
      app,
      socket: this.socket,
      mode: this.mode,
      trigger: this.trigger,
      outcomeTimeoutMs: this.outcomeTimeoutMs(),
    });
    const how =
      this.mode === 'supervised'
        ? `baton run --workers ${options.workers} -- ${options.command.join(' ')}`
        : options.command.join(' ');
    this.progress.step(`starting ${how}`);

    const until = now() + options.startTimeoutMs;
    while (now() < until) {
      if (app.exit?.error) {
        const hint = `check the command after --: ${options.command.join(' ')}`;
        throw new Stop({ code: 'START', message: `the app could not be started: ${app.exit.error}`, hint });
      }
      if (app.exit) {
        throw new Stop({
          code: 'START',
          message: `the app ${describeExit(app.exit)} before it was ready`,
          hint: tailHint(app),
        });
      }
      const status = await tryStatus(this.socket, 1000);
      if (status && isServing(status)) {
        this.lastServingPid = status.pid;
        this.progress.step(
          `pid ${status.pid} serving (${status.mode}${status.mode === 'supervised' ? `, ${status.workers.ready} workers` : ''})`,
        );
        return status;
      }
      await sleep(100);
    }
    const saidReady = app.events.some((e) => e.event === 'ready');
    throw new Stop({
      code: 'START',
      message: `the app was not serving ${options.startTimeoutMs} ms after it started (no ready answer on its control socket)`,
      hint: saidReady
        ? 'baton logged ready, but the control socket never answered: is BATON_CONTROL overridden, or control set in code?'
        : 'baton never logged ready: does the app call listen() from @baton/express, @baton/koa or @baton/core, and does every listen() succeed? (--start-timeout for a slow start)',
    });
  }

  /** Where the load goes, and every path answers 2xx/3xx before any reload. */
  private async preflight(status: ControlStatus): Promise<void> {
    const { options } = this;
    this.listeners = listenerTargets(status, (key) => portFromReadyLines(this.app as AppProcess, key));
    if (options.url) {
      this.target = { address: targetOfUrl(options.url), from: '--url' };
    } else {
      const first = this.listeners.find((l) => l.target !== undefined);
      if (!first?.target) {
        const keys = this.listeners.map((l) => `${l.key}${l.note ? ` (${l.note})` : ''}`).join(', ');
        throw new Stop({
          code: 'START',
          message: `status lists no listener to send requests to: ${keys || 'none'}`,
          hint: 'pass the address with --url http://HOST:PORT',
        });
      }
      this.target = { address: first.target, from: `status (${first.key})` };
    }
    const target = this.target.address;
    this.progress.step(
      `load goes to ${describeTarget(target)} from ${this.target.from}, paths ${options.paths.join(' ')}`,
    );
    const until = this.startedAt + options.startTimeoutMs + 5000;
    for (const p of options.paths) {
      for (;;) {
        const result = await probe(target, p, Math.min(options.requestTimeoutMs, 5000));
        if (result.status !== undefined && result.status >= 200 && result.status < 400) break;
        if (result.status !== undefined && isDefinitiveRefusal(result.status)) {
          throw new Stop({
            code: 'PATH',
            message: `GET ${p} answered ${result.status} before any reload`,
            hint: 'name paths the app serves with --path (default /); any answer outside 2xx/3xx counts as a failure',
          });
        }
        if (now() > until) {
          throw new Stop({
            code: 'PATH',
            message: `GET ${p} did not answer 2xx/3xx before any reload (last: ${result.status ?? result.error})`,
            hint: tailHint(this.app as AppProcess),
          });
        }
        await sleep(100);
      }
    }
    if (this.mode === 'in-place') this.sampleListeningSockets(status.pid);
  }

  private async underLoad(): Promise<void> {
    const { options } = this;
    const reloader = this.reloader as Reloader;
    const load = startMixedLoad({
      target: (this.target as { address: HttpTarget }).address,
      routes: getRoutes(options.paths),
      shape: loadShapeFor(options.clients),
      seed: options.seed ?? 1,
      requestTimeoutMs: options.requestTimeoutMs,
    });
    this.load = load;
    const loadStart = now();
    this.steadyFrom = loadStart + (options.steadyMs >= 2 * WARMUP_MS ? WARMUP_MS : 0);
    let done = 0;
    let phase = 'steady load';
    const tick = (): void =>
      this.progress.update(
        done,
        options.reloads,
        `${phase}: ${load.recorder.total()} requests, ${load.recorder.failed()} failed`,
      );
    const ticker = setInterval(tick, 250);
    try {
      this.progress.step(
        `steady load for ${seconds(options.steadyMs)}, then ${options.reloads} reloads by ${this.trigger === 'signal' ? 'SIGHUP' : 'the control socket'}`,
      );
      await sleep(options.steadyMs);
      for (let i = 1; i <= options.reloads; i += 1) {
        phase = `reload ${i}`;
        if (this.mode === 'in-place' && i > 1) {
          const current = await tryStatus(this.socket, STATUS_TIMEOUT_MS);
          if (current) this.sampleListeningSockets(current.pid);
        }
        const record = await reloader.reload(i);
        this.signals.push(record.signalAt);
        if (record.ok && record.newPids.length > 0) this.lastServingPid = record.newPids[0];
        done = i;
        this.progress.step(reloadLine(record, options.reloads, load));
        if (!record.ok && !(await tryStatus(this.socket, STATUS_TIMEOUT_MS))) {
          this.progress.step('the app no longer answers on its control socket: no more reloads');
          break;
        }
        if (i < options.reloads) await sleep(options.intervalMs);
      }
      phase = 'tail';
      await sleep(options.tailMs);
      tick();
    } finally {
      clearInterval(ticker);
      this.progress.end();
    }
    await Promise.race([load.stop(), deadline(options.requestTimeoutMs + 5000)]);
    this.progress.step(`load stopped: ${load.recorder.total()} requests, ${load.recorder.failed()} failed`);
  }

  /** The processes reloads retired drain and exit: settle time, then at most the drain deadline. */
  private async waitForRetired(): Promise<void> {
    const reloader = this.reloader as Reloader;
    if (reloader.stillRunning().length === 0) return;
    const bound = this.settings.settleMs + this.settings.drainTimeoutMs + 5000;
    this.progress.step(
      `waiting up to ${seconds(bound)} for ${reloader
        .stillRunning()
        .map((r) => `pid ${r.pid}`)
        .join(', ')} to drain and exit`,
    );
    await reloader.retiredGone(bound);
  }

  private async stopApp(): Promise<StopReport> {
    const app = this.app as AppProcess;
    const status = await tryStatus(this.socket, STATUS_TIMEOUT_MS);
    if (status) this.upgradedAtStop = status.connections.upgraded;
    if (status && this.mode === 'in-place') this.sampleListeningSockets(status.pid);
    const pid = this.mode === 'supervised' ? app.pid : (status?.pid ?? this.lastServingPid ?? app.pid);
    if (pid === undefined || app.exit?.error) return { exited: true, note: app.exit?.error ?? 'never started' };
    if (pid === app.pid && app.exit)
      return { pid, exited: true, exitCode: app.exit.code, signal: app.exit.signal, beforeStop: true };
    this.progress.step(`SIGTERM to pid ${pid}`);
    const sentAt = now();
    signal(pid, 'SIGTERM');
    const timeoutMs =
      this.options.stopTimeoutMs ??
      this.settings.shutdownDelayMs + this.settings.drainTimeoutMs + (this.mode === 'supervised' ? 15_000 : 10_000);
    const until = sentAt + timeoutMs;
    while (isAlive(pid) && now() < until) await sleep(25);
    if (pid === app.pid) await Promise.race([app.exited, deadline(1000)]);
    if (isAlive(pid)) return { pid, exited: false, note: `still running ${seconds(timeoutMs)} after SIGTERM` };
    const ms = Math.round(now() - sentAt);
    if (pid === app.pid && app.exit) return { pid, exited: true, exitCode: app.exit.code, signal: app.exit.signal, ms };
    const code = recordedExits(this.exitFile).get(pid);
    if (code !== undefined) return { pid, exited: true, exitCode: code, ms };
    return {
      pid,
      exited: true,
      ms,
      note: 'exit code unknown: not a child of verify, and no exit recorded (not a Node process, or killed by a signal)',
    };
  }

  /** Processes still running after the stop (then killed), listeners still accepting, leaked sockets. */
  private async leftBehind(failedEarly: boolean): Promise<VerifyReport['leftBehind']> {
    const until = now() + LEFTOVER_GRACE_MS;
    let alive = this.appPids();
    while (alive.length > 0 && now() < until) {
      await sleep(100);
      alive = this.appPids();
    }
    const processes: LeftProcess[] = alive.map((pid) => ({
      pid,
      what: this.whatIs(pid),
      ...optional('command', commandLine(pid)),
    }));
    for (const pid of alive) signal(pid, 'SIGKILL');
    this.killed = alive;
    const listeners: string[] = [];
    if (processes.length === 0 && !failedEarly) {
      for (const l of this.listeners) {
        if (!l.target) continue;
        if (await accepts(l.target, 1000))
          listeners.push(
            `${describeTarget(l.target)} (${l.key}) still accepts connections after the stop: a process verify does not know holds the socket`,
          );
        else if ('socketPath' in l.target && fs.existsSync(l.target.socketPath))
          listeners.push(
            `unix socket file ${l.target.socketPath} is left behind after the stop: the next start's listen() fails with EADDRINUSE`,
          );
      }
    }
    const descriptors: string[] = [];
    const first = this.listeningSockets[0];
    for (const later of this.listeningSockets.slice(1)) {
      if (first && later.sockets.length > first.sockets.length) {
        descriptors.push(
          `pid ${later.pid} holds ${later.sockets.length} listening sockets, the first generation (pid ${first.pid}) held ${first.sockets.length}: inherited descriptors left open (${later.sockets.join('; ')})`,
        );
        break;
      }
    }
    return { processes, listeners, descriptors };
  }

  private report(stop: StopReport, leftBehind: VerifyReport['leftBehind'], early: Reason | undefined): VerifyReport {
    const { options } = this;
    const app = this.app;
    const reloads = this.reloader?.records ?? [];
    const log = this.load?.recorder.toJSON();
    const accounting = log
      ? accountRequests(log, {
          routes: options.paths,
          signals: this.signals,
          steadyFrom: this.steadyFrom,
          countWarmupFailures: true,
          latencyKinds: LATENCY_KINDS,
        })
      : undefined;
    const byKind: Record<string, KindReport> = {};
    for (const kind of log?.kinds ?? []) {
      const codes = log?.failures[kind] ?? {};
      byKind[kind] = {
        requests: log?.requests[kind] ?? 0,
        failed: Object.values(codes).reduce((a, b) => a + b, 0),
        byCode: codes,
      };
    }
    const byCode: Record<string, number> = {};
    for (const codes of Object.values(log?.failures ?? {}))
      for (const [code, n] of Object.entries(codes)) byCode[code] = (byCode[code] ?? 0) + n;
    const failedByReload = accounting?.failedByReload ?? [0];
    const findings: Omit<VerifyReport, 'ok' | 'reasons'> = {
      command: options.command,
      mode: this.mode,
      ...(this.mode === 'supervised' ? { workers: options.workers } : {}),
      trigger: this.trigger === 'signal' ? 'SIGHUP' : 'control',
      startedAt: new Date(this.startedAt).toISOString(),
      durationMs: Math.round(now() - this.startedAt),
      ...(this.target ? { target: { address: describeTarget(this.target.address), from: this.target.from } } : {}),
      listeners: this.listeners.map((l) => ({
        key: l.key,
        ...optional('address', l.target && describeTarget(l.target)),
        ...optional('note', l.note),
      })),
      paths: options.paths,
      requests: {
        total: log ? Object.values(log.requests).reduce((a, b) => a + b, 0) : 0,
        failed: log ? countFailures(log.failures) : 0,
        byKind,
        byCode,
        failedByReload,
      },
      failures: accounting ? digestFailures(accounting.failures) : [],
      latency: {
        steady: accounting?.latency.steady ?? { n: 0 },
        afterReload: accounting?.latency.afterReload ?? { n: 0 },
        afterReloadWindowMs: AFTER_RELOAD_MS,
        kinds: LATENCY_KINDS,
      },
      settings: this.settings,
      reloadsAsked: options.reloads,
      reloads: reloads.map((r) => ({
        index: r.index,
        ok: r.ok,
        oldPids: r.oldPids,
        newPids: r.newPids,
        ...optional('readyMs', r.readyMs),
        ...optional('spawnToReadyMs', r.spawnToReadyMs),
        ...optional('holding', r.holding),
        drained: r.drained,
        goneMs: r.goneMs,
        failedRequests: failedByReload[r.index] ?? 0,
        ...optional('code', r.code),
        ...optional('message', r.message),
        ...optional('rolledBack', r.rolledBack),
      })),
      warnings: this.warnings(),
      listeningSockets: this.listeningSockets,
      leftBehind,
      stop,
      ...(early && app ? { appOutput: app.outputTail() } : {}),
    };
    const reasons = [
      ...(early ? [early] : []),
      ...reasonsOf(findings, {
        drainTimeoutMs: this.settings.drainTimeoutMs,
        requestTimeoutMs: options.requestTimeoutMs,
        forced: this.forcedCloses(reloads),
        stoppedEarly: early !== undefined,
        ...optional('serverErrorsAfterReadyMs', afterReady(accounting?.failures ?? [], reloads)),
      }),
    ];
    return { ok: reasons.length === 0, ...findings, reasons };
  }

  /** Every warning and error baton logged, once per distinct message. */
  private warnings(): VerifyReport['warnings'] {
    const groups = new Map<string, VerifyReport['warnings'][number]>();
    for (const e of this.app?.events ?? []) {
      if (e.level !== 'warn' && e.level !== 'error') continue;
      const key = `${e.event}\n${e.msg}`;
      const group = groups.get(key);
      if (group) {
        group.count += 1;
        if (!group.pids.includes(e.pid)) group.pids.push(e.pid);
      } else groups.set(key, { event: e.event, level: e.level, message: e.msg, count: 1, pids: [e.pid] });
    }
    return [...groups.values()];
  }

  /** Connections closed by force at a drain deadline, from the processes' lines and the control socket. */
  private forcedCloses(reloads: ReloadRecord[]): ForcedClose[] {
    const byPid = new Map<number, ForcedClose>();
    const reloadOf = (pid: number): ReloadRecord | undefined => reloads.find((r) => r.ok && r.oldPids.includes(pid));
    const note = (pid: number, forced: number): void => {
      if (forced <= 0 || byPid.has(pid)) return;
      const record = reloadOf(pid);
      const upgraded = record ? record.holding?.upgraded : this.upgradedAtStop;
      byPid.set(pid, { pid, forced, ...optional('reload', record?.index), ...optional('upgraded', upgraded) });
    };
    for (const e of this.app?.events ?? [])
      if (e.event === 'drained' && typeof e.fields.forced === 'number') note(e.pid, e.fields.forced);
    for (const r of reloads) for (const d of r.drained) note(d.pid, d.forced ?? 0);
    return [...byPid.values()];
  }

  private sampleListeningSockets(pid: number): void {
    if (this.listeningSockets.some((s) => s.pid === pid)) return;
    const sockets = listeningSocketsOf(pid);
    if (sockets) this.listeningSockets.push({ pid, sockets });
  }

  /** Every live process of the app: by the run's variable, and every pid seen. */
  private appPids(): number[] {
    const seen = new Set<number>(pidsWithVariable(RUN_VARIABLE, this.runId));
    const app = this.app;
    if (app?.pid !== undefined && !app.exit) seen.add(app.pid);
    for (const pid of app?.pidsSeen() ?? []) seen.add(pid);
    for (const r of this.reloader?.records ?? []) for (const pid of [...r.oldPids, ...r.newPids]) seen.add(pid);
    seen.delete(process.pid);
    return [...seen].filter((pid) => pid > 1 && isAlive(pid) && !this.killed.includes(pid)).sort((a, b) => a - b);
  }

  private whatIs(pid: number): string {
    const retired = this.reloader?.records.find((r) => r.ok && r.oldPids.includes(pid));
    if (retired) return `retired by reload ${retired.index}`;
    if (pid === this.lastServingPid) return 'the serving generation';
    if (pid === this.app?.pid) return this.mode === 'supervised' ? 'the supervisor' : 'the first process';
    if (this.reloader?.records.some((r) => r.newPids.includes(pid))) return 'a generation';
    return 'started by the app';
  }

  /** Longest wait for one reload's outcome: the ready timeout (each worker in turn), the settle time, a margin. */
  private outcomeTimeoutMs(): number {
    const steps = this.mode === 'supervised' ? this.options.workers : 1;
    const settle = this.mode === 'supervised' ? this.settings.settleMs * steps : 0;
    return this.settings.readyTimeoutMs * steps + settle + 10_000;
  }
}

/** Runs `baton verify` to its report; never leaves a process of the app running. */
export async function runVerify(options: VerifyOptions, progress: ProgressSink): Promise<VerifyReport> {
  return new VerifyRun(options, progress).execute();
}

/** 5xx answers after a reload, placed against the moment its new generation was ready. */
function afterReady(failures: FailureRecord[], reloads: ReloadRecord[]): { min: number; max: number } | undefined {
  const times: number[] = [];
  for (const f of failures) {
    if (!/^HTTP_5\d\d$/.test(f.code) || f.reload === undefined || f.sinceSignalMs === undefined) continue;
    const readyMs = reloads[f.reload - 1]?.readyMs;
    if (readyMs !== undefined) times.push(f.sinceSignalMs - readyMs);
  }
  return times.length ? { min: Math.min(...times), max: Math.max(...times) } : undefined;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Gone already.
  }
}

function seconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)} s`;
}

function describeExit(exit: AppExit): string {
  if (exit.error) return `could not be started (${exit.error})`;
  return exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
}

/** The app's error line (an uncaught exception's `TypeError: ...`), else its last line. */
function tailHint(app: AppProcess): string {
  const lines = app
    .outputTail()
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const error = lines.find((l) => /^(\w*Error|\w+Exception)\b|\bERR_[A-Z_]+\b|\bE[A-Z]{4,}\b/.test(l));
  const line = error ?? lines.at(-1);
  if (line === undefined) return 'it printed nothing';
  return `${error ? 'it said' : 'its last line'}: ${line.length > 300 ? `${line.slice(0, 300)}...` : line}`;
}

/** The port a port-0 listener got, from the ready line ("serving on tcp:127.0.0.1:0 (port 41234)"). */
function portFromReadyLines(app: AppProcess, key: string): number | undefined {
  const escaped = key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  for (const e of [...app.events].reverse()) {
    if (e.event !== 'ready') continue;
    const match = new RegExp(`${escaped} \\(port (\\d+)\\)`).exec(e.msg);
    if (match) return Number(match[1]);
  }
  return undefined;
}

function reloadLine(r: ReloadRecord, total: number, load: MixedLoad): string {
  const counts = `${load.recorder.total()} requests, ${load.recorder.failed()} failed so far`;
  if (!r.ok) return `reload ${r.index}/${total} FAILED (${r.code}): ${r.message} (${counts})`;
  return `reload ${r.index}/${total}: ${r.oldPids.join(', ') || '?'} -> ${r.newPids.join(', ') || '?'} ready ${r.readyMs} ms after the ${r.trigger === 'SIGHUP' ? 'signal' : 'request'} (${counts})`;
}
