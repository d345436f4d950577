import type net from 'node:net';
import type { LifecycleLog } from '../logger';
import type { ResolvedOptions } from '../options';
import type { RetireReason } from '../wire/ipc';
import type { ConnectionCounts, GenerationMode, ReloadResult, Status } from '../wire/types';

/** The listening sockets a generation can hand on: keys and descriptors, in the same order. */
export interface HandoffSockets {
  keys: string[];
  fds: number[];
}

/** What a role may ask of the generation it serves: a narrow view, not the state machine itself. */
export interface GenerationPort {
  readonly log: LifecycleLog;
  options(): ResolvedOptions;
  status(): Status;
  /** The generation's own reload(): one at a time, shared by whoever asks meanwhile. */
  reload(): Promise<ReloadResult>;
  /** The sockets this generation listens on now. Throws ERR_BATON_UNSUPPORTED for one without an fd. */
  handoff(): HandoffSockets;
  /** Drain and exit: this generation was replaced (`reload`), or the service stops (`shutdown`). */
  retire(reason: RetireReason): void;
}

/**
 * What differs by role, chosen once when the process starts (as jpillora/overseer chooses master or
 * slave once): who hears that this generation is ready, how a reload is carried out, who owns the pid
 * file and the control socket, where the sockets go when this generation stops accepting.
 * Two roles: in-place (in-place.ts: plain start, a reload's successor, systemd socket activation)
 * and supervised (supervised.ts: a worker of `baton run`).
 */
export interface Upstream {
  readonly mode: GenerationMode;
  /** The first listen(), once options are settled: open the control socket, listen to the supervisor. */
  start(port: GenerationPort): void;
  /** A socket this generation bound itself (not inherited). */
  bound(key: string, server: net.Server): void;
  /** Every listener is up and the app's start-up is done: tell whoever waits for it. */
  ready(keys: string[], described: string, readyMs: number): void;
  /** Carries out a reload; rejects with a coded BatonError when it failed and nothing changed. */
  reload(): Promise<ReloadResult>;
  /** Whether the listening sockets live on in another process once this one stops accepting. */
  socketsLiveOn(reason: RetireReason): boolean;
  /** The drain starts, holding `counts`. */
  draining(reason: RetireReason, counts: ConnectionCounts): void;
  /** The drain is over. */
  drained(durationMs: number, forced: number): void;
  /** Last words before the process exits. */
  exiting(): void;
  /** The pids that relate this generation to others, for status(). */
  relations(): Pick<Status, 'predecessorPid' | 'supervisorPid' | 'successorPid'>;
}
