import { spawnChild, type Child, type ChildPlan } from '../child/spawn';
import { notifySystemd, type NotifyFields } from '../internal/sd-notify';

/**
 * The side effects of the `baton run` process on itself, in one replaceable object: the supervisor
 * calls these rather than `process.*` and `spawn`, so unit tests drive it with fake workers.
 */
export interface SupervisorHost {
  readonly pid: number;
  readonly ppid: number;
  readonly env: NodeJS.ProcessEnv;
  now(): number;
  /** CLOCK_MONOTONIC in microseconds, as systemd's MONOTONIC_USEC wants it. */
  monotonicUsec(): bigint;
  onSignal(signal: NodeJS.Signals, handler: (signal: NodeJS.Signals) => void): void;
  spawn(plan: ChildPlan): Child;
  /** sd_notify(3); resolves once sent (or at once outside systemd). */
  notify(fields: NotifyFields): Promise<void>;
}

/** The real `baton run` process. */
export function supervisorProcessHost(): SupervisorHost {
  return {
    pid: process.pid,
    ppid: process.ppid,
    env: process.env,
    now: () => Date.now(),
    monotonicUsec: () => process.hrtime.bigint() / 1000n,
    onSignal: (signal, handler) => void process.on(signal, handler),
    spawn: spawnChild,
    notify: (fields) => notifySystemd(fields, process.env),
  };
}
