// From the requests a Recorder kept to what a report says: failures with the reload they followed,
// latency in steady state against latency just after reloads. Shared by `baton verify` and the bench.
import type { RequestLog } from './recorder';
import { latencyStats, round, roundSummary, summary, type LatencyStats, type Summary } from './stats';

/** "Just after a reload": requests that started within this many ms of a reload's signal. */
export const AFTER_RELOAD_MS = 2000;

/** Index of the last signal at or before t (signals sorted), or -1. */
export function lastSignalBefore(signals: number[], t: number): number {
  let lo = 0;
  let hi = signals.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if ((signals[mid] as number) <= t) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** One failed request. */
export interface FailureRecord {
  kind: string;
  code: string;
  route: string;
  /** Start time, wall-clock ms. */
  t: number;
  /** ms from the last reload's signal to the request's start; undefined before the first reload. */
  sinceSignalMs?: number;
  /** Which reload (1-based) came last before it; undefined before the first. */
  reload?: number;
  latencyMs?: number;
}

export interface FailureGroup {
  kind: string;
  code: string;
  route: string;
  count: number;
  /** When they started, in ms after the last reload's signal. */
  sinceSignalMs: Summary;
}

/** Failures grouped by client kind, code and route, most frequent first. */
export function digestFailures(failures: FailureRecord[]): FailureGroup[] {
  const groups = new Map<string, { kind: string; code: string; route: string; count: number; since: number[] }>();
  for (const f of failures) {
    const key = `${f.kind}|${f.code}|${f.route}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { kind: f.kind, code: f.code, route: f.route, count: 0, since: [] }));
    g.count += 1;
    if (f.sinceSignalMs !== undefined) g.since.push(f.sinceSignalMs);
  }
  return [...groups.values()]
    .sort((a, b) => b.count - a.count)
    .map(({ since, ...g }) => ({ ...g, sinceSignalMs: roundSummary(summary(since)) }));
}

export interface AccountOptions {
  /** Route names, by the index the clients recorded. */
  routes: string[];
  /** Wall-clock ms of each reload's signal, in order. */
  signals: number[];
  /** Requests that started before this are a warm-up: neither failures nor latency count... */
  steadyFrom: number;
  /** ...except that failures in the warm-up are counted anyway when this is true. */
  countWarmupFailures?: boolean;
  /** Latency only of these client kinds (default: all). */
  latencyKinds?: string[];
  /** Latency only of these routes, by name (default: all). */
  latencyRoutes?: string[];
  afterReloadMs?: number;
}

export interface Accounting {
  requests: number;
  failed: number;
  failures: FailureRecord[];
  /** Failed requests by the reload they followed: index 0 before the first reload, i after reload i. */
  failedByReload: number[];
  latency: {
    /** Requests that started after the warm-up and before the first reload. */
    steady: LatencyStats;
    /** Requests that started within afterReloadMs of a reload's signal. */
    afterReload: LatencyStats;
  };
}

/** Failures by reload and latency steady against after reloads, over every request kept. */
export function accountRequests(log: RequestLog, options: AccountOptions): Accounting {
  const { signals } = options;
  const afterMs = options.afterReloadMs ?? AFTER_RELOAD_MS;
  const ok = log.codes.indexOf('ok');
  const firstSignal = signals[0] ?? Infinity;
  const latencyKinds = new Set((options.latencyKinds ?? log.kinds).map((k) => log.kinds.indexOf(k)));
  const latencyRoutes = options.latencyRoutes
    ? new Set(options.latencyRoutes.map((r) => options.routes.indexOf(r)))
    : undefined;
  const steady: number[] = [];
  const afterReload: number[] = [];
  const failures: FailureRecord[] = [];
  const failedByReload = Array.from({ length: signals.length + 1 }, () => 0);
  let requests = 0;
  for (let i = 0; i < log.t.length; i += 1) {
    const t = log.t[i] as number;
    const warmup = t < options.steadyFrom;
    const s = lastSignalBefore(signals, t);
    if (log.code[i] !== ok) {
      if (warmup && !options.countWarmupFailures) continue;
      const lat = log.lat[i] as number;
      failures.push({
        kind: log.kinds[log.kind[i] as number] as string,
        code: log.codes[log.code[i] as number] as string,
        route: options.routes[log.route[i] as number] ?? String(log.route[i]),
        t,
        ...(s >= 0 ? { sinceSignalMs: round(t - (signals[s] as number), 1), reload: s + 1 } : {}),
        ...(lat >= 0 ? { latencyMs: lat } : {}),
      });
      failedByReload[s + 1] = (failedByReload[s + 1] as number) + 1;
      requests += 1;
      continue;
    }
    if (warmup) continue;
    requests += 1;
    if (!latencyKinds.has(log.kind[i] as number)) continue;
    if (latencyRoutes && !latencyRoutes.has(log.route[i] as number)) continue;
    const latency = log.lat[i] as number;
    if (t < firstSignal) steady.push(latency);
    else if (s >= 0 && t - (signals[s] as number) < afterMs) afterReload.push(latency);
  }
  return {
    requests,
    failed: failures.length,
    failures,
    failedByReload,
    latency: { steady: latencyStats(steady), afterReload: latencyStats(afterReload) },
  };
}
