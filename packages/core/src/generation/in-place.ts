import type net from 'node:net';
import type { ChildPlan } from '../child/spawn';
import { waitForReady } from '../child/spawn';
import { InPlaceControl } from '../control/in-place';
import { BatonError } from '../errors';
import { assertPidFileWritable, readPidFile, removePidFileIfOurs, writePidFile } from '../internal/pid-file';
import { wrapperWarning } from '../internal/wrapper-check';
import { handoffEnv, type Inheritance } from '../wire/handoff-env';
import type { RetireReason } from '../wire/ipc';
import type { ConnectionCounts, GenerationMode, ReloadResult, Status } from '../wire/types';
import type { Host } from './host';
import type { GenerationPort, Upstream } from './upstream';

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
export function successorCommand(host: Pick<Host, 'argv' | 'execArgv' | 'execPath'>): SuccessorCommand {
  const script = host.argv[1];
  if (script === undefined || script === '') {
    throw new BatonError('ERR_BATON_UNSUPPORTED', 'reload needs a script path: this process was started with node -e, -p or stdin');
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
export class InPlaceUpstream implements Upstream {
  readonly mode: GenerationMode;
  private port!: GenerationPort;
  private control: InPlaceControl | undefined;
  private successorPid: number | undefined;

  constructor(
    private readonly host: Host,
    private readonly inheritance: Inheritance,
  ) {
    const source = inheritance.source;
    this.mode = source === 'baton' ? 'successor' : source === 'systemd' ? 'socket-activated' : 'plain';
  }

  start(port: GenerationPort): void {
    this.port = port;
    const options = port.options();
    if (options.pidFile !== undefined) assertPidFileWritable(options.pidFile);
    // The control socket travels with the listeners, so it outlives every reload.
    if (options.control !== undefined) this.control = InPlaceControl.start(options.control, this.inheritance, port, port.log);
    if (this.inheritance.source === 'none') {
      const warning = wrapperWarning(this.host.env, this.host.pid, this.host.ppid, options.pidFile !== undefined);
      if (warning) port.log.warn('wrapper', warning);
    }
  }

  bound(_key: string, _server: net.Server): void {
    // Nobody else keeps a copy of our sockets in place: they travel only at a reload.
  }

  ready(keys: string[], described: string, readyMs: number): void {
    void keys;
    const { log } = this.port;
    const pidFile = this.port.options().pidFile;
    const predecessor = this.inheritance.predecessorPid;
    try {
      if (pidFile !== undefined) writePidFile(pidFile, this.host.pid);
    } catch (error) {
      log.error('pid-file', (error as Error).message);
      // A successor that cannot take over the pid file must not take over at all.
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
    void this.host.notify({ MAINPID: this.host.pid, READY: 1 });
    this.host.parent?.send({ baton: 'ready', pid: this.host.pid, keys }).catch((error: Error) => {
      log.error('ready', `cannot tell pid ${predecessor} that this generation is ready: ${error.message}`);
    });
    log.info('ready', `generation ${this.host.pid} ready ${readyMs} ms after loading baton, on ${described}; telling pid ${predecessor}`);
  }

  async reload(): Promise<ReloadResult> {
    const { log } = this.port;
    if (this.host.platform === 'win32') {
      throw new BatonError('ERR_BATON_UNSUPPORTED', 'reload is not supported on Windows: listening sockets cannot be inherited');
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
    const plan: ChildPlan = {
      role: 'next generation',
      file: command.file,
      args: command.args,
      cwd: this.host.startCwd,
      env: { ...this.host.env, ...handoffEnv(sockets.keys, this.host.pid) },
      fds: sockets.fds,
    };
    const child = this.host.spawn(plan);
    if (child.pid > 0) log.debug('reload', `next generation is pid ${child.pid}`);
    let readyMs: number;
    try {
      ({ readyMs } = await waitForReady(child, { timeoutMs: this.port.options().readyTimeoutMs }, () => this.host.now()));
    } catch (error) {
      this.undoFailedSuccessor(error as BatonError);
      void this.host.notify({ READY: 1 });
      throw error;
    }
    // The successor no longer needs us: let this process exit without waiting for it.
    child.release();
    this.successorPid = child.pid;
    const counts = this.port.status().connections;
    log.info(
      'handed-over',
      `generation ${child.pid} ready in ${readyMs} ms; draining ${counts.sockets} connections (${counts.activeRequests} requests in flight)`,
      { successorPid: child.pid, readyMs, ...counts },
    );
    this.port.retire('reload');
    return { pid: child.pid, previousPid: this.host.pid, readyMs };
  }

  socketsLiveOn(reason: RetireReason): boolean {
    return reason === 'reload';
  }

  draining(reason: RetireReason, _counts: ConnectionCounts): void {
    if (reason === 'reload') this.control?.handOver();
    else this.control?.close();
  }

  drained(_durationMs: number, _forced: number): void {
    // In place nobody waits for the numbers: the log line is the report.
  }

  exiting(): void {
    // After a handover the file names the successor; only a final shutdown removes it.
    const pidFile = this.port?.options().pidFile;
    if (pidFile !== undefined) removePidFileIfOurs(pidFile, this.host.pid);
  }

  relations(): Pick<Status, 'predecessorPid' | 'successorPid'> {
    const predecessorPid = this.inheritance.predecessorPid;
    return {
      ...(predecessorPid !== undefined ? { predecessorPid } : {}),
      ...(this.successorPid !== undefined ? { successorPid: this.successorPid } : {}),
    };
  }

  /** A successor killed between writing the pid file and saying ready must not leave its pid there. */
  private undoFailedSuccessor(failure: BatonError): void {
    const pidFile = this.port.options().pidFile;
    if (pidFile !== undefined && failure.pid !== undefined && readPidFile(pidFile) === failure.pid) {
      writePidFile(pidFile, this.host.pid);
    }
  }
}
