import type { ChildPlan } from '../../src/child/spawn';
import type { Host, ParentChannel } from '../../src/generation/host';
import type { NotifyFields } from '../../src/internal/sd-notify';
import type { SupervisorHost } from '../../src/supervisor/host';
import type { GenerationMessage } from '../../src/wire/ipc';
import { FakeChild } from './fake-child';

/** The script a fake process runs: this very file, so that it exists. */
export const FAKE_SCRIPT = __filename;

/** The IPC channel to a parent that is a test: it records what the generation says and can answer. */
export class FakeParent implements ParentChannel {
  connected = true;
  readonly sent: GenerationMessage[] = [];
  private readonly messageListeners: Array<(message: unknown, handle: unknown) => void> = [];
  private readonly disconnectListeners: Array<() => void> = [];

  send(message: GenerationMessage): Promise<void> {
    if (!this.connected) return Promise.reject(new Error('channel closed'));
    this.sent.push(message);
    return Promise.resolve();
  }
  onMessage(listener: (message: unknown, handle: unknown) => void): void {
    this.messageListeners.push(listener);
  }
  onDisconnect(listener: () => void): void {
    this.disconnectListeners.push(listener);
  }
  /** The parent says something to the generation. */
  say(message: object, handle?: unknown): void {
    for (const listener of this.messageListeners) listener(message, handle);
  }
  disconnect(): void {
    this.connected = false;
    for (const listener of this.disconnectListeners) listener();
  }
}

/**
 * A process that never forks, never exits and never gets real signals: the test sends signals with
 * signal(), sees exit codes in `exits`, and controls every child through `children`. Timers are
 * real (short timeouts keep tests quick; no assertion depends on how long anything took).
 */
export class FakeHost implements Host, SupervisorHost {
  readonly pid: number;
  ppid = 1;
  readonly platform: NodeJS.Platform = 'linux';
  readonly env: NodeJS.ProcessEnv;
  readonly startCwd: string;
  readonly execPath = '/usr/bin/node';
  readonly execArgv: string[] = [];
  readonly argv: string[];
  readonly initialEnv: NodeJS.ProcessEnv | undefined;
  readonly scriptAsGiven: string | undefined;
  readonly children: FakeChild[] = [];
  readonly exits: number[] = [];
  readonly notifications: NotifyFields[] = [];
  /** Make the next spawn fail to start, as spawn() does for E2BIG or a missing program. */
  failNextSpawn: Error | undefined;
  /** Runs for every child as it is spawned (e.g. to make it answer like a worker). */
  onSpawn: ((child: FakeChild) => void) | undefined;
  private readonly signalHandlers = new Map<string, Array<(signal: NodeJS.Signals) => void>>();
  private exitWaiters: Array<(code: number) => void> = [];

  constructor(
    options: {
      pid?: number;
      env?: NodeJS.ProcessEnv;
      initialEnv?: NodeJS.ProcessEnv;
      cwd?: string;
      script?: string;
      scriptAsGiven?: string;
      parent?: FakeParent;
    } = {},
  ) {
    this.pid = options.pid ?? 1000;
    this.env = options.env ?? {};
    this.initialEnv = options.initialEnv;
    this.startCwd = options.cwd ?? process.cwd();
    // A script that exists: the next generation's command is checked before it is spawned.
    this.argv = ['/usr/bin/node', options.script ?? FAKE_SCRIPT];
    this.scriptAsGiven = options.scriptAsGiven;
    this.parent = options.parent;
  }

  readonly parent: ParentChannel | undefined;

  now(): number {
    return Date.now();
  }
  monotonicUsec(): bigint {
    return process.hrtime.bigint() / 1000n;
  }
  setTimeout(callback: () => void, ms: number): { unref(): void } {
    // Unref'd: a timer a test left running (a 5 s handover wait) must not keep jest alive.
    return setTimeout(callback, ms).unref();
  }
  clearTimeout(timer: { unref(): void } | undefined): void {
    clearTimeout(timer as NodeJS.Timeout | undefined);
  }
  nextTurn(callback: () => void): void {
    setImmediate(callback);
  }
  /** Listeners the app (not baton) installed, per signal. */
  readonly appSignalListeners = new Map<string, number>();
  /** What the side-server check sees. */
  handles: unknown[] = [];
  readonly uncaughtHandlers: Array<(error: unknown) => void> = [];

  signalListenerCount(signal: NodeJS.Signals): number {
    return (this.signalHandlers.get(signal)?.length ?? 0) + (this.appSignalListeners.get(signal) ?? 0);
  }
  activeHandles(): unknown[] {
    return this.handles;
  }
  onUncaughtException(handler: (error: unknown) => void): void {
    this.uncaughtHandlers.push(handler);
  }

  onSignal(signal: NodeJS.Signals, handler: (signal: NodeJS.Signals) => void): void {
    this.signalHandlers.set(signal, [...(this.signalHandlers.get(signal) ?? []), handler]);
  }
  exit(code: number): void {
    this.exits.push(code);
    for (const wake of this.exitWaiters.splice(0)) wake(code);
  }
  spawn(plan: ChildPlan): FakeChild {
    const child = new FakeChild(plan, this.failNextSpawn);
    this.failNextSpawn = undefined;
    this.children.push(child);
    this.onSpawn?.(child);
    return child;
  }
  /** When set, notify() resolves only once this does: systemd-notify still on its way. */
  notifyGate: Promise<void> | undefined;

  notify(fields: NotifyFields): Promise<void> {
    this.notifications.push(fields);
    return this.notifyGate ?? Promise.resolve();
  }

  // ---- what the test does to the process ----

  signal(signal: NodeJS.Signals): void {
    for (const handler of this.signalHandlers.get(signal) ?? []) handler(signal);
  }

  /** Resolves with the exit code at the process's (first) exit; rejects after `ms`. */
  waitForExit(ms = 5000): Promise<number> {
    if (this.exits.length > 0) return Promise.resolve(this.exits[0] as number);
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no exit within ${ms} ms`)), ms);
      this.exitWaiters.push((code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
  }

  /** Resolves once `count` children exist; rejects after `ms`. */
  async waitForChildren(count: number, ms = 5000): Promise<FakeChild[]> {
    const until = Date.now() + ms;
    while (this.children.length < count) {
      if (Date.now() > until) throw new Error(`${this.children.length} of ${count} children after ${ms} ms`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return this.children;
  }
}
