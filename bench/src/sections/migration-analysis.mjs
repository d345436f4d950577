// The numbers of the migration section (sections/migration.mjs) that the reload section does not
// have, from the same raw material: the connections the clients opened (load/connections.mjs), the
// upstream connections the app saw behind nginx (apps/peers.cjs), when each old generation held no
// client connection any more (baton's `emptied` event), and latency in the second after each reload.
import { lastSignalBefore, latencyStats, round, roundSummary, summary } from '@baton/core/verify';
import { ROUTE_INDEX, ROUTES } from '../load/mix.mjs';
import { LATENCY_KINDS } from './reload-analysis.mjs';

/** "In the second after a reload": the clients that reconnect do it then. */
export const AFTER_RELOAD_SHORT_MS = 1000;
/** Failed requests listed one by one (the digest of the reload section counts them all). */
const FAILURE_DETAILS = 50;

const count = (values) => values.length;
const perReload = (n, reloads) => (reloads > 0 ? round(n / reloads, 2) : undefined);

/**
 * Connections the clients opened: before the first reload (the initial ones, and steady-state churn),
 * and from the first reload signal until the load stopped, per reload and by client kind. The churn is
 * counted over the second half of the steady state only: the idle clients open their first connection
 * up to maxIdleMs after the load starts, which may be after the warm-up.
 */
function clientConnections(data, signals, phases) {
  const c = data.connections;
  if (!c) return undefined;
  const firstSignal = signals[0] ?? phases.loadStop;
  const churnFrom = (phases.steadyStart + firstSignal) / 2;
  const steadyS = (firstSignal - churnFrom) / 1000;
  const byKind = {};
  let initial = 0;
  let steady = 0;
  let during = 0;
  for (let i = 0; i < c.t.length; i += 1) {
    const t = c.t[i];
    const kind = c.kinds[c.kind[i]];
    const k = (byKind[kind] ??= { initial: 0, duringReloads: 0 });
    if (t < firstSignal) {
      initial += 1;
      k.initial += 1;
      if (t >= churnFrom) steady += 1;
    } else if (t <= phases.loadStop) {
      during += 1;
      k.duringReloads += 1;
    }
  }
  const reloadS = (phases.loadStop - firstSignal) / 1000;
  const steadyPerS = steadyS > 0 ? steady / steadyS : 0;
  return {
    beforeFirstReload: initial,
    duringReloads: during,
    perReload: perReload(during, signals.length),
    /** Connections opened in the second half of the steady state, per second. */
    steadyChurnPerS: round(steadyPerS, 2),
    /** Per reload, less what the steady-state churn would have opened over the same time anyway. */
    perReloadNetOfChurn: perReload(Math.max(0, during - steadyPerS * reloadS), signals.length),
    byKind: Object.fromEntries(
      Object.entries(byKind).map(([kind, k]) => [
        kind,
        { ...k, perReload: perReload(k.duringReloads, signals.length) },
      ]),
    ),
  };
}

/** Upstream connections (distinct remote ports the app saw, across generations); set behind a proxy. */
function peerConnections(events, signals, phases) {
  const firstSeen = new Map();
  for (const e of events) if (e.ev === 'peer' && !firstSeen.has(e.port)) firstSeen.set(e.port, e.t);
  if (firstSeen.size === 0) return undefined;
  const firstSignal = signals[0] ?? phases.loadStop;
  const times = [...firstSeen.values()];
  const during = count(times.filter((t) => t >= firstSignal && t <= phases.loadStop));
  // As for the clients: the proxy's own churn, over the second half of the steady state.
  const churnFrom = (phases.steadyStart + firstSignal) / 2;
  const churn = count(times.filter((t) => t >= churnFrom && t < firstSignal));
  return {
    distinctPorts: firstSeen.size,
    beforeFirstReload: count(times.filter((t) => t < firstSignal)),
    duringReloads: during,
    perReload: perReload(during, signals.length),
    steadyChurnPerS: firstSignal > churnFrom ? round(churn / ((firstSignal - churnFrom) / 1000), 2) : undefined,
  };
}

/**
 * Per reload: the old generation's ready (`handed-over`, on its clock) → `emptied` (no client
 * connection left), with its moved/closed counts; and how long after the last response the old
 * generation sent that was (in-flight requests, e.g. the 2.5 s ones, keep it busy whatever happens
 * to the idle connections).
 */
function emptying(data, reloads, events) {
  const byPid = (ev) => new Map(events.filter((e) => e.ev === ev).map((e) => [e.pid, e]));
  const handedOver = byPid('baton:handed-over');
  const emptied = byPid('baton:emptied');
  const drained = byPid('baton:drained');
  // The end of the last response each server process sent (from the clients' clock; same machine).
  const lastResponse = new Map();
  const ok = data.codes.indexOf('ok');
  for (let i = 0; i < data.t.length; i += 1) {
    const pid = data.pid[i];
    if (!pid || data.code[i] !== ok) continue;
    const end = data.t[i] + data.lat[i];
    if (end > (lastResponse.get(pid) ?? 0)) lastResponse.set(pid, end);
  }
  const rows = reloads.map((r) => {
    const pid = r.oldPids[0];
    const h = handedOver.get(pid);
    const e = emptied.get(pid);
    const d = drained.get(pid);
    const from = h?.t ?? r.readyAt;
    const last = lastResponse.get(pid);
    return {
      oldPid: pid,
      readyToEmptiedMs: e ? round(e.t - from, 1) : undefined,
      emptiedDurationMs: e?.durationMs,
      lastResponseToEmptiedMs: e && last !== undefined ? round(e.t - last, 1) : undefined,
      readyToLastResponseMs: last !== undefined ? round(last - from, 1) : undefined,
      moved: e?.moved ?? d?.moved,
      closed: e?.closed ?? d?.closed,
      forced: d?.forced,
    };
  });
  const values = (key) => rows.map((r) => r[key]).filter((v) => v !== undefined);
  const sum = (key) => values(key).reduce((a, b) => a + b, 0);
  return {
    reloads: rows.length,
    emptiedLogged: values('readyToEmptiedMs').length,
    readyToEmptiedMs: roundSummary(summary(values('readyToEmptiedMs'))),
    emptiedDurationMs: roundSummary(summary(values('emptiedDurationMs'))),
    lastResponseToEmptiedMs: roundSummary(summary(values('lastResponseToEmptiedMs'))),
    readyToLastResponseMs: roundSummary(summary(values('readyToLastResponseMs'))),
    moved: sum('moved'),
    closed: sum('closed'),
    forced: sum('forced'),
    perReload: rows,
  };
}

/** p50/p99 of the 2 ms requests: steady state, the whole run, and the second after each reload. */
function latencies(data, signals, phases) {
  const latencyKinds = new Set(LATENCY_KINDS.map((k) => data.kinds.indexOf(k)));
  const ok = data.codes.indexOf('ok');
  const steady = [];
  const overall = [];
  const afterReload = [];
  for (let i = 0; i < data.t.length; i += 1) {
    const t = data.t[i];
    if (t < phases.steadyStart || t > phases.loadStop) continue;
    if (data.code[i] !== ok || data.route[i] !== ROUTE_INDEX.work || !latencyKinds.has(data.kind[i])) continue;
    const latency = data.lat[i];
    overall.push(latency);
    const s = lastSignalBefore(signals, t);
    if (s < 0) steady.push(latency);
    else if (t - signals[s] < AFTER_RELOAD_SHORT_MS) afterReload.push(latency);
  }
  const o = latencyStats(overall);
  const a = latencyStats(afterReload);
  return {
    steady: latencyStats(steady),
    overall: o,
    afterReload: a,
    p99Ratio: round(a.p99 / o.p99, 2),
  };
}

/** Each failed request with where it fell relative to its reload: signal, successor ready. */
function failureDetails(data, reloads) {
  const signals = reloads.map((r) => r.signalAt);
  const ok = data.codes.indexOf('ok');
  const out = [];
  for (let i = 0; i < data.t.length && out.length < FAILURE_DETAILS; i += 1) {
    if (data.code[i] === ok) continue;
    const t = data.t[i];
    const s = lastSignalBefore(signals, t);
    const r = reloads[s];
    const end = data.lat[i] < 0 ? undefined : t + data.lat[i];
    out.push({
      kind: data.kinds[data.kind[i]],
      code: data.codes[data.code[i]],
      route: ROUTES[data.route[i]].name,
      reload: s >= 0 ? s + 1 : undefined,
      startedAfterSignalMs: r ? round(t - r.signalAt, 1) : undefined,
      endedAfterSignalMs: r && end !== undefined ? round(end - r.signalAt, 1) : undefined,
      readyAfterSignalMs: r ? round(r.readyAt - r.signalAt, 1) : undefined,
      latencyMs: data.lat[i] < 0 ? undefined : data.lat[i],
    });
  }
  return out;
}

/** runStrategy's `extend` for the migration section. */
export function analyzeMigration({ data, reloads, phases, events }) {
  const signals = reloads.map((r) => r.signalAt);
  return {
    connections: clientConnections(data, signals, phases),
    upstream: peerConnections(events, signals, phases),
    emptying: emptying(data, reloads, events),
    shortLatency: latencies(data, signals, phases),
    failureDetails: failureDetails(data, reloads),
  };
}
