import { spawn, type ChildProcess } from 'node:child_process';
import { BatonError } from '../errors';

/** What the next generation says on its IPC channel once it is ready. */
export interface ReadyMessage {
  baton: 'ready';
  pid: number;
}

export function isReadyMessage(message: unknown): message is ReadyMessage {
  return typeof message === 'object' && message !== null && (message as ReadyMessage).baton === 'ready';
}

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
export function successorCommand(): SuccessorCommand {
  const script = process.argv[1];
  if (script === undefined || script === '') {
    throw new BatonError('ERR_BATON_UNSUPPORTED', 'reload needs a script path: this process was started with node -e, -p or stdin');
  }
  const dropped: string[] = [];
  const flags: string[] = [];
  for (const flag of process.execArgv) {
    if (/^--(inspect|inspect-brk|inspect-wait|debug-port)(=|$)/.test(flag)) dropped.push(flag);
    else flags.push(flag);
  }
  return { file: process.execPath, args: [...flags, script, ...process.argv.slice(2)], dropped };
}

export interface SuccessorPlan {
  command: SuccessorCommand;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Listening descriptors, inherited by the successor as fds 3, 4, ... in this order. */
  fds: number[];
  readyTimeoutMs: number;
  /** Called once the process exists, before it is ready. */
  onSpawn?: (pid: number) => void;
}

export interface ReadySuccessor {
  child: ChildProcess;
  pid: number;
  readyMs: number;
}

/** How long a killed successor gets to be reaped before we stop waiting for it. */
const REAP_TIMEOUT_MS = 5000;

/**
 * Starts the next generation and resolves once it says it is ready. If it exits, cannot be started,
 * or is not ready in time, it is killed and reaped (no orphan, no zombie) and the promise rejects
 * with a coded BatonError; the caller's sockets were never touched.
 */
export function startSuccessor(plan: SuccessorPlan): Promise<ReadySuccessor> {
  const started = Date.now();
  // No shell: the fds sit at 3.. and the IPC channel right after them.
  const child = spawn(plan.command.file, plan.command.args, {
    cwd: plan.cwd,
    env: plan.env,
    stdio: ['inherit', 'inherit', 'inherit', ...plan.fds, 'ipc'],
  });

  return new Promise<ReadySuccessor>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      fail(
        new BatonError('ERR_BATON_READY_TIMEOUT', `next generation pid ${child.pid} not ready after ${plan.readyTimeoutMs} ms; killed it`, {
          pid: child.pid,
          timeoutMs: plan.readyTimeoutMs,
        }),
      );
    }, plan.readyTimeoutMs);

    const cleanup = (): void => {
      settled = true;
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      child.off('error', onError);
    };

    const fail = (error: BatonError): void => {
      if (settled) return;
      cleanup();
      killAndReap(child).then(() => reject(error));
    };

    const onMessage = (message: unknown): void => {
      if (!isReadyMessage(message) || settled) return;
      cleanup();
      // The successor no longer needs us: let this process exit without waiting for it.
      child.disconnect();
      child.unref();
      resolve({ child, pid: child.pid as number, readyMs: Date.now() - started });
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      fail(
        new BatonError('ERR_BATON_CHILD_EXITED', `next generation pid ${child.pid} ${how} before it was ready`, {
          pid: child.pid,
          exitCode: code,
          signal,
        }),
      );
    };
    const onError = (cause: Error): void => {
      fail(new BatonError('ERR_BATON_SPAWN_FAILED', `cannot start next generation (${plan.command.file}): ${cause.message}`, { cause }));
    };

    child.on('message', onMessage);
    child.once('exit', onExit);
    child.once('error', onError);
    if (child.pid !== undefined) plan.onSpawn?.(child.pid);
  });
}

/** SIGKILL, then wait (bounded) for the exit so no zombie is left behind. */
export function killAndReap(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, REAP_TIMEOUT_MS);
    timer.unref();
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGKILL');
  });
}
