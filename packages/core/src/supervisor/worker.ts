import { EventEmitter } from 'node:events';
import net from 'node:net';
import { waitForReady, type Child, type ChildPlan } from '../child/spawn';
import { holdForMove } from '../migration/move-connection';
import { isBatonMessage, type GenerationMessage, type RetireReason, type SupervisorMessage } from '../wire/ipc';
import type { ConnectionCounts, Status } from '../wire/types';
import type { WorkerCommand } from './command';
import type { RawHandle } from './listener-inventory';

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

/**
 * After the drain deadline, a retiring worker gets this long to exit before SIGKILL. The worker's own
 * budget (`drainTimeoutMs`) already covers its drain and its `onExit` hooks; this is only the margin
 * for the process to close and exit. A stop under `baton run` therefore takes at most
 * drainTimeoutMs + KILL_GRACE_MS: a service manager's stop timeout (systemd `TimeoutStopSec=`,
 * `docker stop -t`, Kubernetes `terminationGracePeriodSeconds`) must exceed that.
 */
export const KILL_GRACE_MS = 5000;

const NOT_A_BATON_APP =
  ': it never loaded @baton/core over the IPC channel. The command must be a Node program that listens through @baton/*, started directly or by a script that execs node';

/**
 * One worker of `baton run`: a child started like an in-place successor (child/spawn.ts) that keeps
 * its IPC channel. Emits 'listener' (key, handle), 'reload' (request id), 'connection' (key, socket,
 * held: the socket stopped reading, see onMessage), 'self-retire' and 'exit' (WorkerExit).
 */
export class Worker extends EventEmitter {
  readonly generation: number;
  readonly startedAt: number;
  state: WorkerState = 'starting';
  readyAt: number | undefined;
  /** The listener keys the worker said it serves, in its ready message. */
  keys: string[] | undefined;
  /** The pid that loaded @baton/core; differs from `pid` when a wrapper script sits in between. */
  helloPid: number | undefined;
  /** What the worker held when it started to drain, and how the drain went. */
  drainingConnections: ConnectionCounts | undefined;
  drainResult: { durationMs: number; forced: number } | undefined;
  /** Client connections its reload drain handed over (as the worker reported; undefined from older cores). */
  movedOut: number | undefined;
  /** Client connections the supervisor passed on to this worker from retiring ones (issue 13). */
  movedIn = 0;
  exitInfo: WorkerExit | undefined;
  readonly exited: Promise<WorkerExit>;
  private nextStatusId = 1;
  private readonly statusWaiters = new Map<number, (status: Status) => void>();
  private readonly drainingWaiters: Array<() => void> = [];
  private killTimer: NodeJS.Timeout | undefined;
  /** Signals the supervisor itself sent: a worker that dies of one of these was not killed from outside. */
  private readonly sentSignals = new Set<NodeJS.Signals>();

  constructor(
    private readonly child: Child,
    generation: number,
    private readonly now: () => number = Date.now,
  ) {
    super();
    this.generation = generation;
    this.startedAt = now();
    this.exited = child.exited.then(({ code, signal }) => {
      clearTimeout(this.killTimer);
      this.exitInfo = { code, signal, state: this.state };
      this.state = 'exited';
      for (const wake of this.drainingWaiters.splice(0)) wake();
      this.emit('exit', this.exitInfo);
      return this.exitInfo;
    });
    child.onMessage((message, handle) => this.onMessage(message, handle));
  }

  /** What to spawn for a worker: the plan child/spawn.ts takes. */
  static plan(plan: WorkerPlan): ChildPlan {
    return {
      role: 'worker',
      file: plan.command.file,
      args: plan.command.args,
      cwd: plan.cwd,
      env: plan.env,
      fds: plan.fds,
    };
  }

  get pid(): number {
    return this.child.pid;
  }

  /**
   * Resolves with the spawn-to-ready time once the worker says it is ready. If it exits, cannot be
   * started or is not ready in time, it is killed and reaped and the promise rejects with a BatonError.
   */
  async waitReady(timeoutMs: number): Promise<number> {
    const ready = await waitForReady(
      this.child,
      {
        timeoutMs,
        timeoutHint: () => (this.helloPid === undefined ? NOT_A_BATON_APP : ''),
        alsoKill: () => this.helloPid,
      },
      this.now,
    );
    return ready.readyMs;
  }

  /**
   * Asks the worker to drain politely and exit; resolves once it reported what it is draining (or
   * after a second). SIGKILL after the drain deadline plus a grace period, so nothing hangs forever.
   * `moveConnections`: its idle client connections may come back to the supervisor (as 'connection'
   * events) for other workers.
   */
  retire(reason: RetireReason, drainTimeoutMs: number, moveConnections = false): Promise<void> {
    if (this.state === 'exited') return Promise.resolve();
    if (this.state !== 'draining') {
      this.state = 'draining';
      this.send({ baton: 'retire', reason, ...(moveConnections ? { moveConnections } : {}) });
      this.killTimer = setTimeout(() => {
        this.sentSignals.add('SIGKILL');
        this.child.signal('SIGKILL');
      }, drainTimeoutMs + KILL_GRACE_MS);
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
      // A worker that exits meanwhile will not answer: no need to wait out the timeout.
      void this.exited.then(() => {
        if (!this.statusWaiters.delete(id)) return;
        clearTimeout(timer);
        resolve(undefined);
      });
      this.send({ baton: 'status-request', id });
    });
  }

  send(message: SupervisorMessage): void {
    void this.child.send(message);
  }

  /**
   * Hands a client connection to this worker, to serve on the listener `key`. Resolves true once the
   * descriptor is on its way (the socket here is then a husk without one), false when the worker or
   * its channel is gone (the socket here still has it).
   */
  sendConnection(key: string, socket: net.Socket): Promise<boolean> {
    return this.child.send({ baton: 'connection', key } satisfies SupervisorMessage, socket);
  }

  signal(signal: NodeJS.Signals): void {
    if (this.state === 'exited') return;
    this.sentSignals.add(signal);
    this.child.signal(signal);
  }

  /** SIGKILL (the app behind a wrapper script too), then wait, bounded, to reap it. */
  kill(): Promise<void> {
    this.sentSignals.add('SIGKILL');
    return this.child.kill(this.helloPid);
  }

  /**
   * True when the worker died of SIGKILL or SIGTERM that the supervisor did not send: an operator,
   * a script or the kernel's OOM killer stopped it. Not a fault of the build, so not a crash to back
   * off from. Any other death (an exit code, SIGSEGV, SIGABRT, ...) is the worker's own.
   */
  killedFromOutside(exit: Pick<WorkerExit, 'signal'>): boolean {
    return (exit.signal === 'SIGKILL' || exit.signal === 'SIGTERM') && !this.sentSignals.has(exit.signal);
  }

  private onMessage(message: unknown, handle: unknown): void {
    if (!isBatonMessage(message)) return;
    const m = message as GenerationMessage;
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
        this.readyAt = this.now();
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
        if (typeof m.moved === 'number') this.movedOut = m.moved;
        break;
      case 'connection':
        if (handle instanceof net.Socket) {
          // Before anything else, on this turn: Node made the socket reading, and reads on the next I/O
          // turn; stopped now, what the client sends next stays in the kernel for the worker it goes to.
          const held = holdForMove(handle);
          // A client that resets while the socket waits here must not crash the supervisor.
          handle.on('error', () => undefined);
          if (this.listenerCount('connection') === 0) handle.destroy();
          else this.emit('connection', m.key, handle, held);
        }
        // Every one is answered, with a socket or without: the worker waits for it to finish its drain.
        this.send({ baton: 'connection-received' });
        break;
    }
  }
}
