import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { BatonError } from '../errors';
import { descendantsOf } from '../internal/process-tree';
import { isReadyMessage, type ReadyMessage } from '../wire/ipc';

/** What to start: a next generation (in place) or a worker (`baton run`); both get the same shape. */
export interface ChildPlan {
  /** Who the child is, in messages: `next generation`, `worker`. */
  role: string;
  file: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Listening descriptors, inherited by the child as fds 3, 4, ... in this order; 'ipc' comes after them. */
  fds: number[];
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A started child generation or worker. The real one wraps a ChildProcess; unit tests drive a fake
 * with the same shape, so the state machines' fault handling runs without forking.
 */
export interface Child {
  readonly role: string;
  /** The program started, for messages. */
  readonly file: string;
  /** -1 when the process could not be started at all (see `startError`). */
  readonly pid: number;
  /** Why the process could not be started (ENOENT, E2BIG, a missing working directory). */
  readonly startError: Error | undefined;
  /** Resolves once the process has exited and been reaped, or failed to start. */
  readonly exited: Promise<ChildExit>;
  readonly hasExited: boolean;
  readonly connected: boolean;
  /** Returns a function that stops listening. */
  onMessage(listener: (message: unknown, handle: unknown) => void): () => void;
  /**
   * Sends over the IPC channel; resolves true once sent, false when the child or its channel is gone
   * (not an error: 'exit' says so).
   */
  send(message: object, handle?: unknown): Promise<boolean>;
  signal(signal: NodeJS.Signals): void;
  /**
   * SIGKILL the child and every process it started (a failed build must not leave its own children
   * running), and `alsoKill` (e.g. the app behind a wrapper script); then wait, bounded, to reap it.
   */
  kill(alsoKill?: number): Promise<void>;
  /** Stops waiting for the child: this process may exit while the child lives on (a successor). */
  release(): void;
}

/** A client connection's libuv handle sent to a child: its `fd` is -1 once closed. */
interface SentDescriptor {
  readonly fd: number;
  close(): void;
}

/** How long a killed child gets to be reaped before we stop waiting for it. */
export const REAP_TIMEOUT_MS = 5000;

/** Starts `plan` for real. Never throws: a child that cannot start has a `startError` and has exited. */
export function spawnChild(plan: ChildPlan): Child {
  return new SpawnedChild(plan);
}

class SpawnedChild implements Child {
  readonly role: string;
  readonly file: string;
  readonly exited: Promise<ChildExit>;
  startError: Error | undefined;
  hasExited = false;
  private readonly child: ChildProcess | undefined;
  private resolveExit!: (exit: ChildExit) => void;
  /**
   * Sends not yet done. Node drops the messages (and handles) queued behind an unacknowledged handle
   * when the channel closes, without calling back: they are settled as not sent when it does.
   */
  private readonly pendingSends = new Set<(sent: boolean) => void>();
  /**
   * The descriptors of client connections sent to the child. Node keeps its copy of each until the
   * child acknowledges it, and closes it then; if the child dies first, Node never does (it waits to
   * flush a queue that will not flush), and the client would wait forever on a connection nobody reads.
   * Closed here when the child exits (closing one Node already closed does nothing).
   */
  private readonly sentConnections = new Set<SentDescriptor>();

  constructor(plan: ChildPlan) {
    this.role = plan.role;
    this.file = plan.file;
    this.exited = new Promise<ChildExit>((resolve) => (this.resolveExit = resolve));
    // spawn() reports a missing cwd as `spawn node ENOENT`, which blames node: name the directory.
    if (!isDirectory(plan.cwd)) {
      this.fail(new Error(`working directory ${plan.cwd} does not exist`));
      return;
    }
    try {
      // No shell: the fds sit at 3.. and the IPC channel right after them.
      this.child = spawn(plan.file, plan.args, {
        cwd: plan.cwd,
        env: plan.env,
        stdio: ['inherit', 'inherit', 'inherit', ...plan.fds, 'ipc'],
      });
    } catch (error) {
      // E2BIG, EMFILE, a bad fd: spawn throws instead of emitting 'error'.
      this.fail(error as Error);
      return;
    }
    const child = this.child;
    child.once('exit', (code, signal) => this.done({ code, signal }));
    child.once('disconnect', () => this.settleSends());
    child.on('error', (error) => {
      // A child that never started emits no 'exit'; a later 'error' (a failed send) is not fatal.
      if (child.pid === undefined) this.fail(error);
    });
  }

  get pid(): number {
    return this.child?.pid ?? -1;
  }

  get connected(): boolean {
    return this.child?.connected ?? false;
  }

  onMessage(listener: (message: unknown, handle: unknown) => void): () => void {
    this.child?.on('message', listener);
    return () => void this.child?.off('message', listener);
  }

  send(message: object, handle?: unknown): Promise<boolean> {
    const child = this.child;
    if (!child?.connected) return Promise.resolve(false);
    return new Promise((resolve) => {
      const settle = (sent: boolean): void => {
        if (!this.pendingSends.delete(settle)) return;
        resolve(sent);
      };
      this.pendingSends.add(settle);
      const connection = handle instanceof net.Socket ? (handle as { _handle?: SentDescriptor })._handle : undefined;
      // The callback swallows EPIPE when the child is already gone; 'exit' tells us that.
      child.send(message as never, handle as never, {}, (error) => {
        if (!error && connection) this.rememberSent(connection);
        settle(!error);
      });
    });
  }

  /**
   * Keeps `connection` until the child exits; forgets those Node already closed (acknowledged, which
   * happens in the order they were sent, so they are the oldest).
   */
  private rememberSent(connection: SentDescriptor): void {
    for (const sent of this.sentConnections) {
      if (sent.fd !== -1) break;
      this.sentConnections.delete(sent);
    }
    this.sentConnections.add(connection);
  }

  private settleSends(): void {
    for (const settle of [...this.pendingSends]) settle(false);
  }

  signal(signal: NodeJS.Signals): void {
    if (this.hasExited) return;
    try {
      this.child?.kill(signal);
    } catch {
      // Gone already.
    }
  }

  kill(alsoKill?: number): Promise<void> {
    if (this.hasExited || this.child?.pid === undefined) return this.exited.then(() => undefined);
    // Children first, found while the chain that leads to them still exists.
    const others = descendantsOf(this.child.pid);
    if (alsoKill !== undefined && alsoKill !== this.child.pid && !others.includes(alsoKill)) others.push(alsoKill);
    this.child.kill('SIGKILL');
    for (const pid of others) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
    const bounded = new Promise<void>((resolve) => setTimeout(resolve, REAP_TIMEOUT_MS).unref());
    return Promise.race([this.exited.then(() => undefined), bounded]);
  }

  release(): void {
    if (this.child?.connected) this.child.disconnect();
    this.child?.unref();
  }

  private fail(error: Error): void {
    this.startError = error;
    this.done({ code: null, signal: null });
  }

  private done(exit: ChildExit): void {
    this.settleSends();
    for (const connection of this.sentConnections) connection.close();
    this.sentConnections.clear();
    if (this.hasExited) return;
    this.hasExited = true;
    this.resolveExit(exit);
  }
}

function isDirectory(dir: string): boolean {
  try {
    return fs.statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

export interface ReadyWait {
  timeoutMs: number;
  /** A sentence added to the timeout message (e.g. why a worker might never say ready). */
  timeoutHint?: () => string;
  /** Another pid to kill with the child (the app behind a wrapper script). */
  alsoKill?: () => number | undefined;
}

export interface ChildReady {
  readyMs: number;
  message: ReadyMessage;
}

/**
 * Resolves once `child` says it is ready. If it exits, could not be started, or is not ready within
 * the deadline, it is killed and reaped (no orphan, no zombie) and the promise rejects with a coded
 * BatonError: ERR_BATON_SPAWN_FAILED, ERR_BATON_CHILD_EXITED or ERR_BATON_READY_TIMEOUT.
 */
export function waitForReady(child: Child, wait: ReadyWait, now: () => number = Date.now): Promise<ChildReady> {
  const started = now();
  const who = `${child.role} pid ${child.pid}`;
  return new Promise<ChildReady>((resolve, reject) => {
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      stopListening();
      return true;
    };
    const timer = setTimeout(() => {
      if (!settle()) return;
      const hint = wait.timeoutHint?.() ?? '';
      const error = new BatonError(
        'ERR_BATON_READY_TIMEOUT',
        `${who} not ready after ${wait.timeoutMs} ms; killed it${hint}`,
        {
          pid: child.pid,
          timeoutMs: wait.timeoutMs,
        },
      );
      void child.kill(wait.alsoKill?.()).then(() => reject(error));
    }, wait.timeoutMs);

    const stopListening = child.onMessage((message) => {
      if (!isReadyMessage(message) || !settle()) return;
      resolve({ readyMs: now() - started, message });
    });
    void child.exited.then((exit) => {
      if (!settle()) return;
      if (child.startError) {
        const cause = child.startError;
        reject(
          new BatonError('ERR_BATON_SPAWN_FAILED', `cannot start ${child.role} (${child.file}): ${cause.message}`, {
            cause,
          }),
        );
        return;
      }
      const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
      reject(
        new BatonError('ERR_BATON_CHILD_EXITED', `${who} ${how} before it was ready`, {
          pid: child.pid,
          exitCode: exit.code,
          signal: exit.signal,
        }),
      );
    });
  });
}
