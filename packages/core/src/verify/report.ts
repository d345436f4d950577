// What `baton verify` found, as one JSON-able object (`--json` prints it as is).
import type { FailureGroup } from './accounting';
import type { DrainRecord } from './reloads';
import type { LatencyStats } from './stats';
import type { ConnectionCounts } from '../wire/types';

export interface Reason {
  /** Stable, for machines: START, PATH, RELOAD_FAILED, ROLLED_BACK, FAILED_REQUESTS, FORCED_CLOSE, STOP, LEFT_BEHIND, WARNING. */
  code: string;
  message: string;
  /** What baton knows about the cause, and the fix. */
  hint?: string;
}

export interface ReloadReport {
  index: number;
  ok: boolean;
  oldPids: number[];
  newPids: number[];
  /** Signal (or control request) → the new generation ready and serving, as verify saw it. */
  readyMs?: number;
  /** The new generation's own spawn → ready, as baton measured it. */
  spawnToReadyMs?: number;
  /** What the old processes held when the new generation took over. */
  holding?: ConnectionCounts;
  drained: DrainRecord[];
  /** Signal → each old process gone, by pid. */
  goneMs: Record<number, number>;
  failedRequests: number;
  code?: string;
  message?: string;
  rolledBack?: string;
}

export interface WarningReport {
  event: string;
  level: string;
  message: string;
  count: number;
  pids: number[];
}

export interface LeftProcess {
  pid: number;
  /** What it was: the serving generation, a process a reload retired, a child of the app. */
  what: string;
  command?: string;
}

export interface StopReport {
  pid?: number;
  /** The exit code, when known (verify's own child, or recorded by the exit probe). */
  exitCode?: number | null;
  signal?: string | null;
  /** SIGTERM → gone. */
  ms?: number;
  exited: boolean;
  /** It exited on its own before verify sent SIGTERM (a crash, a failed start). */
  beforeStop?: boolean;
  note?: string;
}

export interface KindReport {
  requests: number;
  failed: number;
  byCode: Record<string, number>;
}

export interface VerifyReport {
  ok: boolean;
  command: string[];
  mode: 'in-place' | 'supervised';
  workers?: number;
  trigger: 'SIGHUP' | 'control';
  startedAt: string;
  durationMs: number;
  /** Where the load went, and how verify learned it. */
  target?: { address: string; from: string };
  listeners: Array<{ key: string; address?: string; note?: string }>;
  paths: string[];
  requests: {
    total: number;
    failed: number;
    byKind: Record<string, KindReport>;
    byCode: Record<string, number>;
    /** Failed requests by the reload they followed: index 0 before the first reload. */
    failedByReload: number[];
  };
  failures: FailureGroup[];
  latency: { steady: LatencyStats; afterReload: LatencyStats; afterReloadWindowMs: number; kinds: string[] };
  /** baton's timings as the app's environment sets them (BATON_*_MS) or their defaults; code may differ. */
  settings: { readyTimeoutMs: number; drainTimeoutMs: number; settleMs: number; shutdownDelayMs: number };
  reloadsAsked: number;
  reloads: ReloadReport[];
  warnings: WarningReport[];
  /** Listening sockets each serving generation held (a later one holding more leaked descriptors). */
  listeningSockets: Array<{ pid: number; sockets: string[] }>;
  leftBehind: { processes: LeftProcess[]; listeners: string[]; descriptors: string[] };
  stop: StopReport;
  reasons: Reason[];
  /** The app's last lines, when it did not start. */
  appOutput?: string[];
}
