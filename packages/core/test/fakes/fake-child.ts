import type { Child, ChildExit, ChildPlan } from '../../src/child/spawn';

let nextPid = 5000;

/**
 * A child generation or worker that never forks: the test says when it is ready, crashes or exits.
 * It records what it was sent and whether it was killed, so a test can check both sides.
 */
export class FakeChild implements Child {
  readonly role: string;
  readonly file: string;
  readonly pid: number;
  readonly plan: ChildPlan;
  readonly exited: Promise<ChildExit>;
  readonly sent: Array<{ message: object; handle?: unknown }> = [];
  startError: Error | undefined;
  hasExited = false;
  connected = true;
  killed = false;
  released = false;
  private readonly listeners = new Set<(message: unknown, handle: unknown) => void>();
  private resolveExit!: (exit: ChildExit) => void;
  /** Called with every message the parent sends, after it is recorded (lets a fake worker answer). */
  onSent: ((message: object) => void) | undefined;

  constructor(plan: ChildPlan, startError?: Error) {
    this.plan = plan;
    this.role = plan.role;
    this.file = plan.file;
    this.exited = new Promise((resolve) => (this.resolveExit = resolve));
    this.pid = startError ? -1 : nextPid++;
    if (startError) {
      this.startError = startError;
      this.exit({ code: null, signal: null });
    }
  }

  onMessage(listener: (message: unknown, handle: unknown) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  send(message: object, handle?: unknown): Promise<boolean> {
    if (!this.connected) return Promise.resolve(false);
    this.sent.push({ message, ...(handle !== undefined ? { handle } : {}) });
    this.onSent?.(message);
    return Promise.resolve(true);
  }

  signal(signal: NodeJS.Signals): void {
    if (signal === 'SIGKILL') this.exit({ code: null, signal });
  }

  kill(): Promise<void> {
    this.killed = true;
    this.exit({ code: null, signal: 'SIGKILL' });
    return this.exited.then(() => undefined);
  }

  release(): void {
    this.released = true;
    this.connected = false;
  }

  // ---- what the test makes the child do ----

  /** The child says something over IPC, as a real generation would. */
  say(message: object, handle?: unknown): void {
    for (const listener of [...this.listeners]) listener(message, handle);
  }

  sayReady(keys?: string[]): void {
    this.say({ baton: 'ready', pid: this.pid, ...(keys ? { keys } : {}) });
  }

  exit(exit: ChildExit): void {
    if (this.hasExited) return;
    this.hasExited = true;
    this.connected = false;
    // Like Node: 'exit' comes on a later turn than whatever made the process die.
    setImmediate(() => this.resolveExit(exit));
  }

  crash(code = 1): void {
    this.exit({ code, signal: null });
  }
}
