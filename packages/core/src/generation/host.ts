import { spawnChild, type Child, type ChildPlan } from '../child/spawn';
import { notifySystemd, type NotifyFields } from '../internal/sd-notify';
import { logicalCwd, readProcSelf, scriptAsGiven } from '../internal/start-command';
import type { GenerationMessage } from '../wire/ipc';

/** The IPC channel to whoever started this process (a predecessor, or the `baton run` supervisor). */
export interface ParentChannel {
  readonly connected: boolean;
  /** Resolves once the message is handed to the OS; rejects when the parent is gone. */
  send(message: GenerationMessage, handle?: unknown): Promise<void>;
  /** `handle`: a socket sent with the message (a listener copy, or a connection handed over). */
  onMessage(listener: (message: unknown, handle: unknown) => void): void;
  onDisconnect(listener: () => void): void;
}

/**
 * Every side effect a generation has on its process, in one replaceable object (cloudflare/tableflip
 * keeps its own behind `env`): the state machine calls these, never `process.*` or `spawn` directly,
 * so unit tests run it with a fake host and fake children, without forking.
 */
export interface Host {
  readonly pid: number;
  readonly ppid: number;
  readonly platform: NodeJS.Platform;
  /** The live environment. */
  readonly env: NodeJS.ProcessEnv;
  /**
   * Where this process started, as the operator named it (a `current` symlink stays a symlink),
   * captured before the app could chdir().
   */
  readonly startCwd: string;
  /** The environment this process was started with (exec time), or undefined where it cannot be read. */
  readonly initialEnv: NodeJS.ProcessEnv | undefined;
  /** The script argument as typed (`server.js`), when it can be told from the command line. */
  readonly scriptAsGiven: string | undefined;
  readonly execPath: string;
  readonly execArgv: readonly string[];
  readonly argv: readonly string[];
  now(): number;
  /** CLOCK_MONOTONIC in microseconds, as systemd's MONOTONIC_USEC wants it. */
  monotonicUsec(): bigint;
  setTimeout(callback: () => void, ms: number): { unref(): void };
  clearTimeout(timer: { unref(): void } | undefined): void;
  /** Runs `callback` on a later turn of the event loop (after pending I/O callbacks). */
  nextTurn(callback: () => void): void;
  onSignal(signal: NodeJS.Signals, handler: (signal: NodeJS.Signals) => void): void;
  /** How many listeners the signal has in this process, baton's included. */
  signalListenerCount(signal: NodeJS.Signals): number;
  /** Everything that keeps the event loop alive (servers among them), for the side-server check. */
  activeHandles(): unknown[];
  /** Sees an uncaught exception just before the process dies of it (does not change what happens). */
  onUncaughtException(handler: (error: unknown) => void): void;
  exit(code: number): void;
  spawn(plan: ChildPlan): Child;
  /** sd_notify(3); resolves once sent (or at once outside systemd). */
  notify(fields: NotifyFields): Promise<void>;
  /** Undefined when nobody started this process with an IPC channel. */
  readonly parent: ParentChannel | undefined;
}

/** The real process. */
export function processHost(): Host {
  const physicalCwd = process.cwd();
  const self = readProcSelf();
  return {
    pid: process.pid,
    get ppid() {
      return process.ppid;
    },
    platform: process.platform,
    env: process.env,
    startCwd: logicalCwd(process.env, physicalCwd),
    initialEnv: self?.environ,
    scriptAsGiven: self ? scriptAsGiven(self.cmdline, process.execArgv, process.argv, physicalCwd) : undefined,
    execPath: process.execPath,
    execArgv: process.execArgv,
    argv: process.argv,
    now: () => Date.now(),
    monotonicUsec: () => process.hrtime.bigint() / 1000n,
    setTimeout: (callback, ms) => setTimeout(callback, ms),
    clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
    nextTurn: (callback) => void setImmediate(callback),
    onSignal: (signal, handler) => void process.on(signal, handler),
    signalListenerCount: (signal) => process.listenerCount(signal),
    // Undocumented but long-stable (why-is-node-running relies on it); an empty list where it is missing.
    activeHandles: () => (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles?.() ?? [],
    onUncaughtException: (handler) => void process.on('uncaughtExceptionMonitor', handler),
    exit: (code) => process.exit(code),
    spawn: spawnChild,
    notify: (fields) => notifySystemd(fields, process.env),
    parent: typeof process.send === 'function' ? processParent() : undefined,
  };
}

function processParent(): ParentChannel {
  return {
    get connected() {
      return process.connected;
    },
    send: (message, handle) =>
      new Promise<void>((resolve, reject) => {
        if (!process.connected || !process.send) {
          reject(new Error('the IPC channel is closed'));
          return;
        }
        // With a callback, a parent that is already gone is an error to report, not an uncaught 'error' event.
        process.send(message, handle as never, {}, (error: Error | null) => (error ? reject(error) : resolve()));
      }),
    onMessage: (listener) => void process.on('message', listener),
    onDisconnect: (listener) => void process.on('disconnect', listener),
  };
}
