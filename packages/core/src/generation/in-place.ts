import fs from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import { waitForReady, type Child } from '../child/spawn';
import { InPlaceControl } from '../control/in-place';
import { BatonError } from '../errors';
import { assertPidFileWritable, readPidFile, removePidFileIfOurs, writePidFile } from '../internal/pid-file';
import { addressInUseHint } from '../internal/neighbours';
import { createStderrLogger, LifecycleLog } from '../logger';
import { wrapperWarning } from '../internal/wrapper-check';
import { HANDOFF_VARIABLES, handoffEnv, type Inheritance } from '../wire/handoff-env';
import { isBatonMessage, type ConnectionMessage, type PredecessorMessage, type RetireReason } from '../wire/ipc';
import type { ConnectionCounts, GenerationMode, ReloadResult, Status } from '../wire/types';
import type { Host, ParentChannel } from './host';
import type { ConnectionTarget, GenerationPort, ServedListener, Upstream } from './upstream';

/** The command that starts the next generation, and the flags that could not come along. */
export interface SuccessorCommand {
  file: string;
  args: string[];
  /** Flags that cannot be repeated in a second process (an inspector port is already taken). */
  dropped: string[];
}

/**
 * The same command that started this process: node, its flags (loaders from tsx and --require
 * travel in execArgv), the script and its arguments. NODE_OPTIONS travels in the environment.
 */
export function successorCommand(
  host: Pick<Host, 'argv' | 'execArgv' | 'execPath' | 'scriptAsGiven' | 'startCwd'>,
): SuccessorCommand {
  if (host.argv[1] === undefined || host.argv[1] === '') {
    throw new BatonError(
      'ERR_BATON_UNSUPPORTED',
      'reload needs a script path: this process was started with node -e, -p or stdin',
    );
  }
  // As typed, so it resolves anew from the (logical) start directory: a switched symlink takes effect.
  const script = host.scriptAsGiven ?? host.argv[1];
  const resolved = path.resolve(host.startCwd, script);
  if (!fs.existsSync(resolved)) {
    throw new BatonError(
      'ERR_BATON_SPAWN_FAILED',
      `cannot start next generation: script ${resolved} does not exist (started as ${script} in ${host.startCwd})`,
    );
  }
  const dropped: string[] = [];
  const flags: string[] = [];
  for (const flag of host.execArgv) {
    if (/^--(inspect|inspect-brk|inspect-wait|debug-port)(=|$)/.test(flag)) dropped.push(flag);
    else flags.push(flag);
  }
  return { file: host.execPath, args: [...flags, script, ...host.argv.slice(2)], dropped };
}

/**
 * The in-place role (endless's model): a reload starts the next generation of this very process with
 * the listening sockets, and this generation retires once it is ready. This role owns the pid file
 * (each generation writes its own pid when ready), the control socket (handed on with the listeners)
 * and systemd notifications. It serves a plain start, a reload's successor and socket activation.
 */
/** How long a successor waits for its predecessor to confirm it stopped accepting. */
export const HANDOVER_WAIT_MS = 5000;

/** A successor being started, so a stop signal can cancel it. */
interface Starting {
  child: Child;
  cancelledBy?: NodeJS.Signals;
}

/**
 * The in-place role (endless's model): a reload starts the next generation of this very process with
 * the listening sockets; once it is ready this generation stands by for the settle time (not accepting,
 * serving what is open, holding copies of the sockets the successor sent back) and then drains and
 * exits, or, if the successor died meanwhile, accepts again: nginx's binary-upgrade rollback, done
 * automatically. This role owns the pid file (each generation writes its own pid when ready), the
 * control socket (handed on with the listeners) and systemd notifications. It serves a plain start, a
 * reload's successor and socket activation.
 */
export class InPlaceUpstream implements Upstream {
  readonly mode: GenerationMode;
  private port!: GenerationPort;
  private control: InPlaceControl | undefined;
  private successorPid: number | undefined;
  private starting: Starting | undefined;
  /**
   * The successor that took over. Its channel carries the client connections a reload moves, so it is
   * released (not waited for) only once the drain is over.
   */
  private successor: { child: Child } | undefined;
  /** Ends the rollback window early (a stop signal, or the drain began for another reason). */
  private endStandby: (() => void) | undefined;

  constructor(
    private readonly host: Host,
    private readonly inheritance: Inheritance,
  ) {
    const source = inheritance.source;
    this.mode = source === 'baton' ? 'successor' : source === 'systemd' ? 'socket-activated' : 'plain';
    const predecessor = inheritance.predecessorPid;
    if (predecessor !== undefined) {
      // A server the app binds with a plain listen() dies here with EADDRINUSE, maybe before baton's
      // first listen(): say why as the process dies of it.
      host.onUncaughtException((error) => {
        const hint = addressInUseHint(error, predecessor);
        if (hint) (this.port?.log ?? new LifecycleLog(createStderrLogger('error'))).error('address-in-use', hint);
      });
    }
  }

  start(port: GenerationPort): void {
    this.port = port;
    const options = port.options();
    if (options.pidFile !== undefined) assertPidFileWritable(options.pidFile);
    // The control socket travels with the listeners, so it outlives every reload.
    if (options.control !== undefined)
      this.control = InPlaceControl.start(options.control, this.inheritance, port, port.log);
    if (this.inheritance.source === 'none') {
      const warning = wrapperWarning(this.host.env, this.host.pid, this.host.ppid, options.pidFile !== undefined);
      if (warning) port.log.warn('wrapper', warning);
    }
    if (this.inheritance.predecessorGone)
      port.log.warn('predecessor-gone', predecessorGone(this.inheritance.predecessorPid));
    // The predecessor moves its idle client connections here once this generation is ready.
    if (this.inheritance.predecessorPid !== undefined)
      this.host.parent?.onMessage((message, handle) => {
        if (isBatonMessage(message) && message.baton === 'connection' && handle)
          port.adoptConnection((message as ConnectionMessage).key, handle);
      });
  }

  bound(_key: string, _server: net.Server): void {
    // Nobody else keeps a copy of our sockets in place: they travel only at a reload.
  }

  ready(listeners: ServedListener[], described: string, readyMs: number): void {
    const { log } = this.port;
    const predecessor = this.inheritance.predecessorPid;
    const connected =
      predecessor !== undefined && !this.inheritance.predecessorGone && this.host.parent?.connected === true;
    try {
      // A successor takes over the pid file once its predecessor stopped accepting (see tellPredecessor);
      // one that could not write it must not take over at all, so that is checked now.
      if (connected) this.checkPidFile();
      else this.writeOwnPid();
    } catch (error) {
      log.error('pid-file', (error as Error).message);
      if (predecessor !== undefined) {
        this.host.exit(1);
        return;
      }
    }
    if (predecessor === undefined) {
      void this.host.notify({ READY: 1 });
      log.info('ready', `serving on ${described} (pid ${this.host.pid})`);
      return;
    }
    if (!connected) {
      // Nobody to tell but systemd, whose main process died: this one is it now.
      if (!this.inheritance.predecessorGone) log.warn('predecessor-gone', predecessorGone(predecessor));
      void this.host.notify({ MAINPID: this.host.pid, READY: 1 });
      log.info('ready', `serving on ${described} (pid ${this.host.pid}) in place of pid ${predecessor}`);
      return;
    }
    void this.tellPredecessor(predecessor, listeners).catch((error: Error) => {
      log.error('ready', `cannot tell pid ${predecessor} that this generation is ready: ${error.message}`);
    });
    log.info(
      'ready',
      `generation ${this.host.pid} ready ${readyMs} ms after loading baton, on ${described}; telling pid ${predecessor}`,
    );
  }

  /**
   * Copies of our listening sockets first (the predecessor holds them through the settle time to
   * take them back if we die), then systemd hears the new MAINPID, and only then the predecessor
   * hears "ready" and may exit: systemd never sees its main process gone without a successor.
   */
  private async tellPredecessor(predecessor: number, listeners: ServedListener[]): Promise<void> {
    const parent = this.host.parent as ParentChannel;
    const copies = listeners.map(({ key, server }) => ({
      key,
      handle: (server as unknown as { _handle?: unknown })._handle,
    }));
    if (this.control) copies.push({ key: this.control.key, handle: this.control.handle() });
    for (const { key, handle } of copies) if (handle) await parent.send({ baton: 'listener', key }, handle);
    await this.host.notify({ MAINPID: this.host.pid, READY: 1 });
    const handedOver = this.waitForHandover(parent, predecessor);
    await parent.send({ baton: 'ready', pid: this.host.pid, keys: listeners.map((l) => l.key) });
    await handedOver;
    try {
      this.writeOwnPid();
    } catch (error) {
      // Too late to step back (the predecessor is draining): serve, and say the pid file is stale.
      this.port.log.error('pid-file', (error as Error).message);
    }
  }

  /**
   * Resolves once the predecessor says it stopped accepting, or its channel closed, or after
   * HANDOVER_WAIT_MS: from then on whoever reads the pid file and connects reaches this generation.
   */
  private waitForHandover(parent: ParentChannel, predecessor: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        this.host.clearTimeout(timer);
        resolve();
      };
      const timer = this.host.setTimeout(() => {
        this.port.log.warn(
          'pid-file',
          `pid ${predecessor} did not confirm the handover within ${HANDOVER_WAIT_MS} ms; taking over the pid file`,
        );
        finish();
      }, HANDOVER_WAIT_MS);
      parent.onMessage((message) => {
        if ((message as { baton?: unknown })?.baton === 'handed-over') finish();
      });
      parent.onDisconnect(finish);
    });
  }

  private checkPidFile(): void {
    const pidFile = this.port.options().pidFile;
    if (pidFile !== undefined) assertPidFileWritable(pidFile);
  }

  private writeOwnPid(): void {
    const pidFile = this.port.options().pidFile;
    if (pidFile !== undefined) writePidFile(pidFile, this.host.pid);
  }

  async reload(): Promise<ReloadResult> {
    const { log } = this.port;
    if (this.host.platform === 'win32') {
      throw new BatonError(
        'ERR_BATON_UNSUPPORTED',
        'reload is not supported on Windows: listening sockets cannot be inherited',
      );
    }
    const sockets = this.port.handoff();
    const control = this.control?.handoff();
    if (control) {
      sockets.keys.push(control.key);
      sockets.fds.push(control.fd);
    }
    const command = successorCommand(this.host);
    if (command.dropped.length > 0) log.warn('reload', `the next generation runs without ${command.dropped.join(' ')}`);

    void this.host.notify({ RELOADING: 1, MONOTONIC_USEC: this.host.monotonicUsec() });
    log.info('reload', `starting next generation: ${[command.file, ...command.args].join(' ')}`);
    const child = this.host.spawn({
      role: 'next generation',
      file: command.file,
      args: command.args,
      cwd: this.host.startCwd,
      env: { ...this.successorEnv(), ...handoffEnv(sockets.keys, this.host.pid) },
      fds: sockets.fds,
    });
    if (child.pid > 0) log.debug('reload', `next generation is pid ${child.pid}`);
    const starting: Starting = { child };
    this.starting = starting;
    // What the successor sends back before "ready": copies of its listening sockets, for a rollback.
    const handles = new Map<string, unknown>();
    const stopCollecting = child.onMessage((message, handle) => {
      const m = message as { baton?: string; key?: unknown };
      if (m?.baton === 'listener' && typeof m.key === 'string' && handle) handles.set(m.key, handle);
    });
    let readyMs: number;
    try {
      ({ readyMs } = await waitForReady(child, { timeoutMs: this.port.options().readyTimeoutMs }, () =>
        this.host.now(),
      ));
      // A stop signal that came while the ready message was on its way still wins.
      if (starting.cancelledBy) {
        await child.kill();
        throw new BatonError('ERR_BATON_CHILD_EXITED', 'killed by a stop signal', { pid: child.pid });
      }
    } catch (error) {
      stopCollecting();
      closeHandles(handles);
      this.starting = undefined;
      this.undoFailedSuccessor(error as BatonError);
      void this.host.notify({ READY: 1 });
      if (starting.cancelledBy) {
        throw new BatonError(
          'ERR_BATON_RETIRING',
          `reload cancelled by ${starting.cancelledBy}: next generation pid ${child.pid} was killed before it took over`,
          {
            pid: child.pid,
          },
        );
      }
      throw error;
    }
    stopCollecting();
    this.starting = undefined;
    this.successorPid = child.pid;
    const counts = this.port.status().connections;
    const settleMs = this.port.options().settleMs;
    const standing = settleMs > 0 && handles.size > 0;
    log.info(
      'handed-over',
      `generation ${child.pid} ready in ${readyMs} ms; ` +
        (standing
          ? `standing by for ${settleMs} ms (not accepting, ${counts.sockets} connections open) to take the sockets back if it dies`
          : `draining ${counts.sockets} connections (${counts.activeRequests} requests in flight)`) +
        (this.port.options().migrateConnections && counts.sockets > 0 ? '; idle connections move to it' : ''),
      { successorPid: child.pid, readyMs, ...counts },
    );
    this.successor = { child };
    if (standing) this.standBy(child, handles, settleMs);
    else {
      closeHandles(handles);
      this.port.retire('reload');
    }
    return { pid: child.pid, previousPid: this.host.pid, readyMs };
  }

  cancelReload(signal: NodeJS.Signals): void {
    const starting = this.starting;
    if (!starting || starting.cancelledBy) return;
    starting.cancelledBy = signal;
    this.port.log.info(
      'reload',
      `${signal}: killing next generation pid ${starting.child.pid}, which was still starting`,
    );
    void starting.child.kill();
  }

  socketsLiveOn(reason: RetireReason): boolean {
    return reason === 'reload';
  }

  connectionTarget(reason: RetireReason): ConnectionTarget | undefined {
    const child = this.successor?.child;
    if (reason !== 'reload' || child === undefined || !child.connected) return undefined;
    return (key, socket) => child.send({ baton: 'connection', key } satisfies PredecessorMessage, socket);
  }

  draining(reason: RetireReason, _counts: ConnectionCounts): void {
    if (reason === 'reload') this.control?.handOver();
    else this.control?.close();
    // Not accepting any more: the successor may take over the pid file.
    void this.successor?.child.send({ baton: 'handed-over' } satisfies PredecessorMessage);
  }

  drained(_durationMs: number, _forced: number, _moved: number): void {
    // In place nobody waits for the numbers: the log line is the report. Nothing more will move.
    this.successor?.child.release();
  }

  exiting(): void {
    this.endStandby?.();
    this.successor?.child.release();
    // After a handover the file is the successor's, which may be writing it right now: leave it alone.
    // Only a final shutdown removes it, and only while it still names this process.
    const pidFile = this.port?.options().pidFile;
    if (pidFile !== undefined && this.successor === undefined) removePidFileIfOurs(pidFile, this.host.pid);
  }

  relations(): Pick<Status, 'predecessorPid' | 'successorPid'> {
    const predecessorPid = this.inheritance.predecessorPid;
    return {
      ...(predecessorPid !== undefined ? { predecessorPid } : {}),
      ...(this.successorPid !== undefined ? { successorPid: this.successorPid } : {}),
    };
  }

  /**
   * The rollback window: not accepting, holding `handles`, until the successor has stayed up for
   * `settleMs` (then drain and exit as after any reload) or dies (then accept again and serve).
   */
  private standBy(child: Child, handles: Map<string, unknown>, settleMs: number): void {
    const { log } = this.port;
    const readyAt = this.host.now();
    this.port.standBy();
    let over = false;
    const finish = (): void => {
      over = true;
      this.endStandby = undefined;
      this.host.clearTimeout(timer);
      closeHandles(handles);
    };
    const timer = this.host.setTimeout(() => {
      if (over) return;
      finish();
      log.info('settled', `generation ${child.pid} stayed up ${settleMs} ms; draining`);
      this.port.retire('reload');
    }, settleMs);
    this.endStandby = finish;
    void child.exited.then((exit) => {
      // Too late once the drain has moved on to exiting (the settle time passed, or a stop signal).
      if (over || this.port.status().phase !== 'standby') return;
      over = true;
      this.endStandby = undefined;
      this.host.clearTimeout(timer);
      const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
      const why = `rolled back: next generation pid ${child.pid} ${how} ${this.host.now() - readyAt} ms after it was ready; pid ${this.host.pid} serves again`;
      this.successorPid = undefined;
      this.successor = undefined;
      const missing = this.port.resume(handles, why);
      this.control?.resume(handles);
      const pidFile = this.port.options().pidFile;
      try {
        if (pidFile !== undefined) writePidFile(pidFile, this.host.pid);
      } catch (error) {
        log.error('pid-file', (error as Error).message);
      }
      void this.host.notify({ MAINPID: this.host.pid, READY: 1 });
      log.error('rolled-back', why, { successorPid: child.pid });
      if (missing.length > 0)
        log.error(
          'rolled-back',
          `no copy of ${missing.join(', ')} came back from pid ${child.pid}: not accepting there`,
        );
    });
  }

  /**
   * The environment this process was started with (so a changed `.env` applies and nothing the app
   * set piles up), unless the app asked for its current process.env; never our handoff variables.
   */
  private successorEnv(): NodeJS.ProcessEnv {
    const initial = this.port.options().successorEnv === 'initial' ? this.host.initialEnv : undefined;
    const env = { ...(initial ?? this.host.env) };
    for (const name of HANDOFF_VARIABLES) delete env[name];
    return env;
  }

  /** A successor killed between writing the pid file and saying ready must not leave its pid there. */
  private undoFailedSuccessor(failure: BatonError): void {
    const pidFile = this.port.options().pidFile;
    if (pidFile !== undefined && failure.pid !== undefined && readPidFile(pidFile) === failure.pid) {
      writePidFile(pidFile, this.host.pid);
    }
  }
}

function predecessorGone(pid: number | undefined): string {
  return `pid ${pid} died while this generation started; serving in its place`;
}

/** Closes the copies of listening sockets a successor sent back (never accepted on here). */
function closeHandles(handles: Map<string, unknown>): void {
  for (const handle of handles.values()) (handle as { close?: () => void }).close?.();
  handles.clear();
}
