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

/** A listener as the role sees it. */
export interface ServedListener {
  key: string;
  server: net.Server;
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
  /** Handed over: stop accepting (the sockets live on), keep serving open connections, wait. */
  standBy(): void;
  /**
   * The successor died during the settle time: accept again on `handles` (copies of our own listening
   * sockets, by key) and serve as before. Returns the keys that could not be resumed.
   */
  resume(handles: ReadonlyMap<string, unknown>, why: string): string[];
  /** A client connection the previous generation handed over: serve it on the listener with `key`. */
  adoptConnection(key: string, socket: unknown): void;
}

/** Sends a client connection of the listener `key` to the process that serves next; true once sent. */
export type ConnectionTarget = (key: string, socket: net.Socket) => Promise<boolean>;

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
  ready(listeners: ServedListener[], described: string, readyMs: number): void;
  /** Carries out a reload; rejects with a coded BatonError when it failed and nothing changed. */
  reload(): Promise<ReloadResult>;
  /** A stop signal arrived during reload(): make it settle now (kill a successor still starting). */
  cancelReload(signal: NodeJS.Signals): void;
  /** Whether the listening sockets live on in another process once this one stops accepting. */
  socketsLiveOn(reason: RetireReason): boolean;
  /**
   * Where a reload's drain may move idle client connections (the next generation), or undefined when
   * nothing can take them. Asked once, when the drain starts.
   */
  connectionTarget(reason: RetireReason): ConnectionTarget | undefined;
  /** The drain starts, holding `counts`; this generation no longer accepts. */
  draining(reason: RetireReason, counts: ConnectionCounts): void;
  /** The drain is over: `moved` connections went to the next generation, `forced` were cut. */
  drained(durationMs: number, forced: number, moved: number): void;
  /** Last words before the process exits. */
  exiting(): void;
  /** The pids that relate this generation to others, for status(). */
  relations(): Pick<Status, 'predecessorPid' | 'supervisorPid' | 'successorPid'>;
}
