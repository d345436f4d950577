import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { ConnectionCounts } from '../drain-tracker';
import { BatonError } from '../errors';
import type { Status } from '../internal/generation';
import type { WorkerCommand } from './command';
import type { RawHandle } from './listener-inventory';
import { isBatonMessage, type SupervisorMessage, type WorkerMessage } from './protocol';

export type WorkerState = 'starting' | 'ready' | 'draining' | 'exited';

export interface WorkerPlan {
  command: WorkerCommand;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Held listening sockets, inherited as fds 3, 4, ... in this order. */
  fds: number[];
  /** Which reload started it (1 = the first workers). */
  generation: number;
}

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The state the worker was in when it exited: 'ready' means it crashed while serving. */
  state: WorkerState;
}

/** After the drain deadline, a retiring worker gets this long to exit before SIGKILL. */
export const KILL_GRACE_MS = 5000;
/** How long a killed worker gets to be reaped before we stop waiting for it. */
const REAP_TIMEOUT_MS = 5000;

/**
 * One worker: a child spawned like an in-place successor that keeps its IPC channel. Emits
 * 'listener' (key, handle), 'reload' (request id) and 'exit' (WorkerExit).
 */
export class WorkerProcess extends EventEmitter {
  readonly child: ChildProcess;
  readonly generation: number;
  readonly startedAt = Date.now();
  state: WorkerState = 'starting';
  readyAt: number | undefined;
  /** The listener keys the worker said it serves, in its ready message. */
  keys: string[] | undefined;
  /** The pid that loaded @baton/core; differs from `pid` when a wrapper script sits in between. */
  helloPid: number | undefined;
  /** What the worker held when it started to drain, and how the drain went. */
  drainingConnections: ConnectionCounts | undefined;
  drainResult: { durationMs: number; forced: number } | undefined;
  exitInfo: WorkerExit | undefined;
  readonly exited: Promise<WorkerExit>;
  private spawnError: Error | undefined;
  private nextStatusId = 1;
  private readonly statusWaiters = new Map<number, (status: Status) => void>();
  private readonly drainingWaiters: Array<() => void> = [];
  private killTimer: NodeJS.Timeout | undefined;

  constructor(plan: WorkerPlan) {
    super();
    this.generation = plan.generation;
    // No shell: the sockets sit at 3.. and the IPC channel right after them, as for a successor.
    this.child = spawn(plan.command.file, plan.command.args, {
      cwd: plan.cwd,
      env: plan.env,
      stdio: ['inherit', 'inherit', 'inherit', ...plan.fds, 'ipc'],
    });
    this.exited = new Promise<WorkerExit>((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (this.exitInfo) return;
        clearTimeout(this.killTimer);
        this.exitInfo = { code, signal, state: this.state };
        this.state = 'exited';
        for (const wake of this.drainingWaiters.splice(0)) wake();
        this.emit('exit', this.exitInfo);
        resolve(this.exitInfo);
      };
      this.child.once('exit', done);
      this.child.once('error', (error) => {
        this.spawnError = error;
        // A child that never started emits no 'exit'.
        if (this.child.pid === undefined) done(null, null);
      });
    });
    this.child.on('message', (message: unknown, handle: unknown) => this.onMessage(message, handle));
    // A worker that dies mid-send must not crash the supervisor with an unhandled 'error'.
    this.child.on('error', () => undefined);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /**
   * Resolves with the spawn-to-ready time once the worker says it is ready. If it exits, cannot be
   * started or is not ready in time, it is killed and reaped and the promise rejects with a BatonError.
   */
  waitReady(timeoutMs: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      let settled = false;
      const fail = (error: BatonError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.off('ready', onReady);
        void this.kill().then(() => reject(error));
      };
      const timer = setTimeout(() => {
        const hint =
          this.helloPid === undefined
            ? ': it never loaded @baton/core over the IPC channel. The command must be a Node program that listens through @baton/*, started directly or by a script that execs node'
            : '';
        fail(new BatonError('ERR_BATON_READY_TIMEOUT', `worker pid ${this.pid} not ready after ${timeoutMs} ms; killed it${hint}`, { pid: this.pid, timeoutMs }));
      }, timeoutMs);
      const onReady = (): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(Date.now() - this.startedAt);
      };
      this.once('ready', onReady);
      void this.exited.then((exit) => {
        if (exit.state !== 'starting' || settled) return;
        settled = true;
        clearTimeout(timer);
        this.off('ready', onReady);
        if (this.spawnError) {
          reject(new BatonError('ERR_BATON_SPAWN_FAILED', `cannot start worker (${this.child.spawnfile}): ${this.spawnError.message}`, { cause: this.spawnError }));
          return;
        }
        const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
        reject(new BatonError('ERR_BATON_CHILD_EXITED', `worker pid ${this.pid} ${how} before it was ready`, { pid: this.pid, exitCode: exit.code, signal: exit.signal }));
      });
    });
  }

  /**
   * Asks the worker to drain politely and exit; resolves once it reported what it is draining (or
   * after a second). SIGKILL after the drain deadline plus a grace period, so nothing hangs forever.
   */
  retire(reason: 'reload' | 'shutdown', drainTimeoutMs: number): Promise<void> {
    if (this.state === 'exited') return Promise.resolve();
    if (this.state !== 'draining') {
      this.state = 'draining';
      this.send({ baton: 'retire', reason });
      this.killTimer = setTimeout(() => this.child.kill('SIGKILL'), drainTimeoutMs + KILL_GRACE_MS);
    }
    if (this.drainingConnections) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1000);
      this.drainingWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** The worker's own status() over IPC; undefined if it does not answer in time. */
  status(timeoutMs: number): Promise<Status | undefined> {
    if (this.state === 'exited' || !this.child.connected) return Promise.resolve(undefined);
    const id = this.nextStatusId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.statusWaiters.delete(id);
        resolve(undefined);
      }, timeoutMs);
      this.statusWaiters.set(id, (status) => {
        clearTimeout(timer);
        resolve(status);
      });
      this.send({ baton: 'status-request', id });
    });
  }

  send(message: SupervisorMessage): void {
    if (!this.child.connected) return;
    this.child.send(message, undefined, {}, () => undefined);
  }

  signal(signal: NodeJS.Signals): void {
    if (this.state === 'exited') return;
    try {
      this.child.kill(signal);
    } catch {
      // Gone already.
    }
  }

  /** SIGKILL (the wrapper's child too, if a wrapper script sits in between), then wait to reap it. */
  kill(): Promise<void> {
    if (this.state === 'exited' || this.child.pid === undefined) return this.exited.then(() => undefined);
    if (this.helloPid !== undefined && this.helloPid !== this.pid) {
      try {
        process.kill(this.helloPid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
    this.child.kill('SIGKILL');
    return Promise.race([this.exited.then(() => undefined), new Promise<void>((resolve) => setTimeout(resolve, REAP_TIMEOUT_MS).unref())]);
  }

  private onMessage(message: unknown, handle: unknown): void {
    if (!isBatonMessage(message)) return;
    const m = message as WorkerMessage;
    switch (m.baton) {
      case 'hello':
        this.helloPid = m.pid;
        break;
      case 'listener':
        if (handle) this.emit('listener', m.key, handle as RawHandle);
        break;
      case 'ready':
        if (this.state !== 'starting') break;
        this.state = 'ready';
        this.readyAt = Date.now();
        if (Array.isArray(m.keys)) this.keys = m.keys;
        this.emit('ready');
        break;
      case 'reload':
        this.emit('reload', m.id);
        break;
      case 'status':
        this.statusWaiters.get(m.id)?.(m.status);
        this.statusWaiters.delete(m.id);
        break;
      case 'draining':
        this.drainingConnections = m.connections;
        // Not asked to: someone signalled the worker itself. It no longer counts as serving.
        if (this.state === 'ready' || this.state === 'starting') {
          this.state = 'draining';
          this.emit('self-retire');
        }
        for (const wake of this.drainingWaiters.splice(0)) wake();
        break;
      case 'drained':
        this.drainResult = { durationMs: m.durationMs, forced: m.forced };
        break;
    }
  }
}
