import type { ConnectionCounts, LastReload, WireError } from './types';

/**
 * The control socket speaks JSON lines. The client sends one request line; the server answers with
 * zero or more `progress` lines, one `result` line, then (after a reload) `drained` lines for the
 * processes the reload retired, and closes the connection when there is nothing left to tell.
 */
export type ControlRequest = { command: 'status' } | { command: 'reload' };

export type ControlMode = 'in-place' | 'supervised';

export interface GenerationSummary {
  pid: number;
  /** Under `baton run`: which reload started it (1 = the first workers). */
  generation?: number;
  state: 'starting' | 'ready' | 'draining';
  uptimeMs: number;
  /** From spawn (or start) to ready. */
  readyMs?: number;
  connections?: ConnectionCounts;
  /** Client connections moved at reloads (migrateConnections): in from older processes, out to newer ones. */
  connectionsMoved?: { in: number; out: number };
}

export interface ControlStatus {
  mode: ControlMode;
  /** The process that answered: the serving generation (in-place) or the supervisor (stays the same). */
  pid: number;
  phase: string;
  /**
   * Under `baton run`, derived from the workers ready right now: `serving` (all N), `degraded`
   * (fewer, at least one), `down` (none). `baton status` derives the same from `workers` when absent.
   */
  health?: 'serving' | 'degraded' | 'down';
  uptimeMs: number;
  workers: { wanted: number; ready: number; starting: number; draining: number };
  generations: GenerationSummary[];
  /** Totals over every generation that answered. */
  connections: ConnectionCounts;
  listeners: Array<{ key: string; fd?: number }>;
  /** Under `baton run`: workers restarted after they crashed. */
  restarts?: number;
  lastReload?: LastReload & { pids?: number[]; previousPids?: number[] };
}

export interface ReloadOutcome {
  mode: ControlMode;
  /** The new generation's pids, now serving. */
  pids: number[];
  previousPids: number[];
  /** Slowest spawn-to-ready time among the new generation. */
  readyMs: number;
  durationMs: number;
  /** What each retired process was holding when it started to drain. */
  draining: Array<{ pid: number; connections?: ConnectionCounts }>;
}

export type ControlEvent =
  | { type: 'progress'; event: string; message: string; pid: number }
  | { type: 'result'; ok: true; status: ControlStatus }
  | { type: 'result'; ok: true; reload: ReloadOutcome }
  | { type: 'result'; ok: false; error: WireError }
  | {
      type: 'drained';
      pid: number;
      durationMs?: number;
      forced?: number;
      /** Client connections the drain moved to newer processes instead of closing them. */
      moved?: number;
      exitCode?: number | null;
    };

/** What the control server drives: one generation (in-place) or the supervisor. */
export interface ControlTarget {
  status(): ControlStatus | Promise<ControlStatus>;
  /** Rejects with a BatonError when the reload failed; nothing changed then. */
  reload(): Promise<ReloadOutcome>;
  /**
   * Resolves once the processes a reload retired have drained and exited, reporting each through
   * `drained`. In-place there is nothing to wait for here: the answering process is the one that exits.
   */
  settle?(outcome: ReloadOutcome, drained: (event: Extract<ControlEvent, { type: 'drained' }>) => void): Promise<void>;
}

/** Longest request line accepted; a request is a few dozen bytes. */
export const MAX_REQUEST_BYTES = 4096;
