// Why a run failed, first reason first, each with the hint baton can give about its cause (the
// warnings baton logs name their fix; verify adds what it saw: when, from whom, with which error).
import type { Reason, VerifyReport } from './report';

type Findings = Omit<VerifyReport, 'ok' | 'reasons'>;

/** Warnings that break reloads whatever this run happened to lose. */
const RELOAD_BREAKERS = ['signal-collision', 'side-server'];

const count = (n: number): string => n.toLocaleString('en-US');
const plural = (n: number, one: string, many = `${one}s`): string => `${count(n)} ${n === 1 ? one : many}`;

function warning(findings: Findings, ...events: string[]): string | undefined {
  for (const event of events) {
    const found = findings.warnings.find((w) => w.event === event);
    if (found) return found.message;
  }
  return undefined;
}

/** Connections closed by force at a drain deadline: after which reload (or at the final stop). */
export interface ForcedClose {
  pid: number;
  forced: number;
  /** The reload that retired it; undefined for the final stop. */
  reload?: number;
  upgraded?: number;
}

export interface VerdictContext {
  drainTimeoutMs: number;
  requestTimeoutMs: number;
  forced: ForcedClose[];
  /** The run stopped before the load (the app did not start, a path does not answer): that is the reason. */
  stoppedEarly?: boolean;
  /** 5xx answers after reloads: from how long to how long after the new generation was ready. */
  serverErrorsAfterReadyMs?: { min: number; max: number };
}

export function reasonsOf(findings: Findings, context: VerdictContext): Reason[] {
  const reasons: Reason[] = [];
  const asked = findings.reloadsAsked;

  for (const r of findings.reloads) {
    if (!r.ok) {
      reasons.push({
        code: 'RELOAD_FAILED',
        message: `reload ${r.index} of ${asked} failed (${r.code ?? 'unknown'}): ${r.message ?? 'no message'}`,
        ...hint(warning(findings, 'address-in-use', 'side-server', 'signal-collision', 'wrapper')),
      });
      break;
    }
  }
  const rolledBack = findings.reloads.find((r) => r.rolledBack !== undefined);
  if (rolledBack) {
    reasons.push({
      code: 'ROLLED_BACK',
      message: `reload ${rolledBack.index} of ${asked} was rolled back: ${rolledBack.rolledBack}`,
      hint: 'the new build died soon after it was ready; its own output says why (run with --app-log FILE to keep it)',
    });
  }

  const { total, failed, byCode, failedByReload } = findings.requests;
  if (failed > 0) {
    const codes = Object.entries(byCode)
      .sort((a, b) => b[1] - a[1])
      .map(([code, n]) => `${code} ×${n}`)
      .join(', ');
    const when = failedByReload
      .map((n, i) => (n === 0 ? undefined : i === 0 ? `${n} before any reload` : `${n} after reload ${i}`))
      .filter(Boolean)
      .slice(0, 4)
      .join(', ');
    reasons.push({
      code: 'FAILED_REQUESTS',
      message: `${count(failed)} of ${count(total)} requests failed (${codes}; ${when})`,
      ...hint(requestHint(findings, context)),
    });
  }

  const forced = context.forced.filter((f) => f.forced > 0);
  if (forced.length > 0) {
    const first = forced[0] as ForcedClose;
    const n = forced.reduce((sum, f) => sum + f.forced, 0);
    const where = first.reload !== undefined ? `after reload ${first.reload}` : 'at the final stop';
    reasons.push({
      code: 'FORCED_CLOSE',
      message: `${plural(n, 'connection')} closed by force at the drain deadline (${context.drainTimeoutMs} ms): pid ${first.pid} ${where}${forced.length > 1 ? ` and ${plural(forced.length - 1, 'other process', 'other processes')}` : ''}`,
      hint: forcedHint(forced, context),
    });
  }

  const stop = findings.stop;
  if (stop.beforeStop) {
    // Reported by the reason that stopped the run (or here, when the app died in the middle of it).
    if (!context.stoppedEarly)
      reasons.push({
        code: 'STOP',
        message: `the app (pid ${stop.pid ?? '?'}) ${stop.signal ? `was killed by ${stop.signal}` : `exited with code ${stop.exitCode}`} before verify stopped it`,
      });
  } else if (!stop.exited) {
    reasons.push({
      code: 'STOP',
      message: `pid ${stop.pid ?? '?'} was still running after SIGTERM${stop.note ? ` (${stop.note})` : ''}`,
      hint: 'whatever holds it open (a timer, a connection, an onExit hook) outlived the drain; see the app log',
    });
  } else if (stop.signal) {
    reasons.push({
      code: 'STOP',
      message: `pid ${stop.pid ?? '?'} was killed by ${stop.signal} after SIGTERM instead of exiting 0`,
    });
  } else if (stop.exitCode !== undefined && stop.exitCode !== null && stop.exitCode !== 0) {
    reasons.push({
      code: 'STOP',
      message: `the app exited with code ${stop.exitCode} on SIGTERM (pid ${stop.pid ?? '?'})`,
      hint: 'baton exits 0 after a drain; a non-zero code comes from the app (process.exit in its own SIGTERM handler, an error in an onExit hook)',
    });
  }

  const left = findings.leftBehind;
  if (left.processes.length > 0) {
    const list = left.processes.map((p) => `pid ${p.pid} (${p.what}${p.command ? `: ${p.command}` : ''})`).join(', ');
    reasons.push({
      code: 'LEFT_BEHIND',
      message: `${plural(left.processes.length, 'process', 'processes')} left behind after the stop: ${list}`,
      hint: 'verify killed them; a child process the app starts must be stopped in onExit',
    });
  }
  if (left.listeners.length > 0) reasons.push({ code: 'LEFT_BEHIND', message: left.listeners[0] as string });
  if (left.descriptors.length > 0) reasons.push({ code: 'LEFT_BEHIND', message: left.descriptors[0] as string });

  for (const w of findings.warnings) {
    if (RELOAD_BREAKERS.includes(w.event))
      reasons.push({ code: 'WARNING', message: `baton warned (${w.event}): ${w.message}` });
  }
  return reasons;
}

function hint(text: string | undefined): { hint?: string } {
  return text === undefined ? {} : { hint: text };
}

function requestHint(findings: Findings, context: VerdictContext): string | undefined {
  const collision = warning(findings, 'signal-collision');
  if (collision) return collision;
  const rolledBack = findings.reloads.filter((r) => r.rolledBack !== undefined && r.failedRequests > 0);
  if (rolledBack.length > 0) {
    return `reload ${rolledBack.map((r) => r.index).join(', ')} rolled back: the new generation died with the connections it had accepted; see why in its output (--app-log FILE)`;
  }
  const codes = Object.keys(findings.requests.byCode);
  const afterReloads = findings.requests.failedByReload.slice(1).some((n) => n > 0);
  const serverErrors = codes.filter((c) => /^HTTP_5\d\d$/.test(c));
  if (serverErrors.length > 0 && afterReloads) {
    const window = context.serverErrorsAfterReadyMs;
    const at = window
      ? ` (from ${Math.max(0, Math.round(window.min))} to ${Math.max(0, Math.round(window.max))} ms after the new generation was ready)`
      : '';
    return (
      `${serverErrors.join(', ')} right after reloads${at}: the new generation said ready before it could serve. baton hands over ` +
      'once every listen() is listening; if the app needs more start-up (a database, a cache, a warm-up), ' +
      "configure({ readiness: 'manual' }) and call ready() once it can answer"
    );
  }
  const breaker = warning(findings, 'side-server', 'address-in-use');
  if (breaker) return breaker;
  if (findings.requests.failedByReload.slice(1).every((n) => n === 0)) {
    return 'every failure came before the first reload: the app itself fails under this load (or at these paths)';
  }
  if (codes.includes('ECONNREFUSED')) {
    return 'connections were refused: for a moment nothing accepted on the listener. Does the app close its server (server.close()) or exit on a signal?';
  }
  if (codes.some((c) => ['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'ABORTED', 'UND_ERR_CLOSED'].includes(c))) {
    return "connections were closed under requests or under idle keep-alive clients: something closed them besides baton's drain (server.close(), closeAllConnections(), a framework's shutdown hook)";
  }
  if (codes.includes('TIMEOUT'))
    return `requests got no answer within ${context.requestTimeoutMs} ms (--request-timeout)`;
  return undefined;
}

function forcedHint(forced: ForcedClose[], context: VerdictContext): string {
  const upgraded = forced.reduce((sum, f) => sum + (f.upgraded ?? 0), 0);
  if (upgraded > 0) {
    return (
      `${forced.length > 1 ? 'the retiring generations' : 'the retiring generation'} held ${plural(upgraded, 'upgraded (WebSocket) connection')} when the drain started, and baton leaves those to the app: ` +
      "close them in onDrain(({ upgradedSockets }) => ...), e.g. for ws: for (const ws of wss.clients) ws.close(1012, 'Service Restart')"
    );
  }
  return (
    `requests or connections outlived the drain deadline of ${context.drainTimeoutMs} ms: an upgraded (WebSocket) connection nobody closes ` +
    '(close it in onDrain), or requests longer than the deadline (raise BATON_DRAIN_TIMEOUT_MS)'
  );
}
