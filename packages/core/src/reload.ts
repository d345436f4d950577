import type { DrainHook } from './generation/generation';
import { generation } from './generation/this-process';
import type { ReloadResult, Status } from './wire/types';
import type { BatonOptions } from './options';

/**
 * Starts the next generation of this process (same command, same sockets) and resolves once it is
 * ready; this generation then drains and exits. Rejects with a BatonError (ERR_BATON_CHILD_EXITED,
 * ERR_BATON_READY_TIMEOUT, ...) when the successor fails, in which case nothing changed and this
 * generation keeps serving. Calls made while a reload is starting share its promise.
 */
export function reload(): Promise<ReloadResult> {
  return generation.reload();
}

/**
 * Options in code; call before the first listen(). BATON_* environment variables override them.
 * Throws ERR_BATON_INVALID_OPTION naming the option and its value.
 */
export function configure(options: BatonOptions): void {
  generation.configure(options);
}

/** With `configure({ readiness: 'manual' })`: the app's own start-up is done. */
export function ready(): void {
  generation.ready();
}

/** Sockets, requests, idle and upgraded connections right now, per listener and in total. */
export function status(): Status {
  return generation.status();
}

/** Runs when this generation starts draining: close WebSockets (1012 Service Restart) here. */
export function onDrain(hook: DrainHook): void {
  generation.onDrain(hook);
}

/** Runs after the drain, before the process exits: close pools, flush logs. Bounded by drainTimeoutMs. */
export function onExit(hook: () => void | Promise<void>): void {
  generation.onExit(hook);
}
