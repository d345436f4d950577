import http from 'node:http';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';

/** A small deterministic PRNG (mulberry32): the same seed gives the same idle times every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `1.3 pid=4312` as the fixture prints it. */
export interface Identity {
  version: string;
  pid: number;
}

export function parseIdentity(text: string): Identity | undefined {
  const match = /^(\d+\.\d+) pid=(\d+)$/.exec(text);
  return match ? { version: match[1] as string, pid: Number(match[2]) } : undefined;
}

export interface Failure {
  kind: string;
  worker: string;
  code: string;
  message: string;
  /** ms since the recorder started, when the request was sent and when it failed. */
  sentAt: number;
  at: number;
  /** pid that answered this worker's previous request (its kept-alive socket most likely goes there). */
  previousPid?: number;
  /** http.Agent only: the request went out on a kept-alive socket. */
  reusedSocket?: boolean;
}

export interface Served {
  kind: string;
  pid: number;
  version: string;
  sentAt: number;
  at: number;
  /** The response said `Connection: close`: the server asked the client to reconnect. */
  close: boolean;
}

export type TimelineEvent =
  { at: number; what: 'sighup' | 'ready' | 'exited'; pid: number } | { at: number; what: 'log'; line: string };

/** Every request's outcome, every reload step and every server log line, on one clock. */
export class LoadRecorder {
  readonly t0 = Date.now();
  readonly served: Served[] = [];
  readonly failures: Failure[] = [];
  readonly timeline: TimelineEvent[] = [];
  private readonly kinds = new Set<string>();

  now(): number {
    return Date.now() - this.t0;
  }

  kind(name: string): void {
    this.kinds.add(name);
  }

  ok(served: Omit<Served, 'at'>): void {
    this.served.push({ ...served, at: this.now() });
  }

  fail(failure: Omit<Failure, 'at' | 'code' | 'message'>, error: unknown): void {
    this.failures.push({ ...failure, ...describeError(error), at: this.now() });
  }

  event(what: 'sighup' | 'ready' | 'exited', pid: number): void {
    this.timeline.push({ at: this.now(), what, pid });
  }

  /** Time-stamps every line the server processes write (all generations share the pipes). */
  watchOutput(stream: Readable | null | undefined, onLine?: (line: string) => void): void {
    let pending = '';
    stream?.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim() === '') continue;
        this.timeline.push({ at: this.now(), what: 'log', line });
        onLine?.(line);
      }
    });
  }

  countsByKind(): Map<string, { ok: number; failed: number; pids: Set<number>; closes: number }> {
    const counts = new Map<string, { ok: number; failed: number; pids: Set<number>; closes: number }>();
    for (const kind of this.kinds) counts.set(kind, { ok: 0, failed: 0, pids: new Set(), closes: 0 });
    for (const s of this.served) {
      const c = counts.get(s.kind) ?? { ok: 0, failed: 0, pids: new Set<number>(), closes: 0 };
      c.ok += 1;
      c.pids.add(s.pid);
      if (s.close) c.closes += 1;
      counts.set(s.kind, c);
    }
    for (const f of this.failures) {
      const c = counts.get(f.kind) ?? { ok: 0, failed: 0, pids: new Set<number>(), closes: 0 };
      c.failed += 1;
      counts.set(f.kind, c);
    }
    return counts;
  }

  /** Where `at` falls relative to the reloads: the last SIGHUP and successor-ready before it. */
  relativeToReloads(at: number): string {
    const before = this.timeline.filter((e) => e.what !== 'log' && e.at <= at);
    const sighup = [...before].reverse().find((e) => e.what === 'sighup');
    const ready = [...before].reverse().find((e) => e.what === 'ready');
    const parts: string[] = [];
    if (sighup && sighup.what !== 'log') parts.push(`${at - sighup.at} ms after SIGHUP to ${sighup.pid}`);
    if (ready && ready.what !== 'log') parts.push(`${at - ready.at} ms after ${ready.pid} was ready`);
    return parts.length > 0 ? parts.join(', ') : 'before any reload';
  }

  /** Counts per client kind, the reload timeline, every failure, and the server log when something failed. */
  summary(title: string, withLog = this.failures.length > 0): string {
    const lines = [`== ${title}: ${this.now()} ms ==`];
    for (const [kind, c] of this.countsByKind()) {
      lines.push(
        `  ${kind.padEnd(14)} ok ${String(c.ok).padStart(5)}  failed ${String(c.failed).padStart(3)}  Connection: close ${String(c.closes).padStart(4)}  pids ${[...c.pids].join(',')}`,
      );
    }
    const events = this.timeline.flatMap((e) => (e.what === 'log' ? [] : [`${e.at}:${e.what} ${e.pid}`]));
    lines.push(`  reloads: ${events.join('  ')}`);
    if (this.failures.length > 0) {
      lines.push(`  FAILURES (${this.failures.length}):`);
      for (const f of this.failures) {
        const reused = f.reusedSocket === undefined ? '' : ` reusedSocket=${f.reusedSocket}`;
        lines.push(
          `    ${f.kind}/${f.worker} ${f.code} "${f.message}" sent ${f.sentAt} failed ${f.at} (${this.relativeToReloads(f.sentAt)}) previous pid ${f.previousPid ?? '-'}${reused}`,
        );
      }
    }
    if (withLog) {
      lines.push('  server log (ms since start):');
      for (const e of this.timeline) if (e.what === 'log') lines.push(`    ${e.at} ${e.line}`);
    }
    return lines.join('\n');
  }
}

export function describeError(error: unknown): { code: string; message: string } {
  const e = error as
    { code?: unknown; name?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } } | undefined;
  const code = [e?.code, e?.cause?.code].filter((c) => typeof c === 'string').join('/') || String(e?.name ?? 'Error');
  const message = [e?.message, e?.cause?.message].filter((m) => typeof m === 'string' && m !== '').join(': ');
  return { code, message };
}

/** Thrown for a response that arrived but is wrong or incomplete. */
export class BadResponse extends Error {
  readonly code = 'BAD_RESPONSE';
}

export interface Stop {
  stopped: boolean;
  /** Hard end of every loop, whatever happens to the test. */
  deadline: number;
}

/** Runs `step` until stopped, past the deadline, or `maxIterations` times; `pause` between steps. */
export async function loop(
  stop: Stop,
  maxIterations: number,
  step: (i: number) => Promise<void>,
  pause?: () => number,
): Promise<void> {
  for (let i = 0; i < maxIterations && !stop.stopped && Date.now() < stop.deadline; i++) {
    await step(i);
    const ms = pause?.() ?? 0;
    if (ms > 0) await sleep(ms);
  }
}

export interface AgentReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  reusedSocket: boolean;
}

/**
 * One request through an http.Agent, no retry of any kind. A failure carries `reusedSocket`
 * (the request went out on a kept-alive socket) for the diagnosis.
 */
export function agentRequest(
  agent: http.Agent,
  port: number,
  path: string,
  options: { method?: string; body?: Buffer; timeoutMs?: number } = {},
): Promise<AgentReply> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = {};
    if (options.body) {
      headers['content-type'] = 'application/octet-stream';
      headers['content-length'] = options.body.length;
    }
    const req = http.request(
      { agent, host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          if (!res.complete)
            return reject(
              Object.assign(new Error('response ended before it was complete'), {
                code: 'INCOMPLETE',
                reusedSocket: req.reusedSocket,
              }),
            );
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, reusedSocket: req.reusedSocket });
        });
        res.on('aborted', () =>
          reject(Object.assign(new Error('response aborted'), { code: 'ABORTED', reusedSocket: req.reusedSocket })),
        );
        res.on('error', (error) => reject(Object.assign(error, { reusedSocket: req.reusedSocket })));
      },
    );
    req.setTimeout(options.timeoutMs ?? 15_000, () =>
      req.destroy(Object.assign(new Error(`no answer to ${path} in time`), { code: 'TIMEOUT' })),
    );
    req.on('error', (error) => reject(Object.assign(error, { reusedSocket: req.reusedSocket })));
    req.end(options.body);
  });
}

/** Requests of the reload-under-load tests give up after this. */
const REQUEST_TIMEOUT_MS = 15_000;

/** The body must be exactly `<version> pid=<pid>\n`. */
export function identityOf(text: string): Identity {
  const identity = text.endsWith('\n') ? parseIdentity(text.slice(0, -1)) : undefined;
  if (!identity) throw new BadResponse(`unexpected body ${JSON.stringify(text.slice(0, 200))}`);
  return identity;
}

/** The upload echo: `<bytes received> <identity>`, the byte count that of `upload`. */
export function uploadIdentity(upload: Buffer): (text: string) => Identity {
  return (text) => {
    const match = /^(\d+) (.*\n)$/s.exec(text);
    if (!match || Number(match[1]) !== upload.length)
      throw new BadResponse(`upload echo ${JSON.stringify(text.slice(0, 200))}, want ${upload.length} bytes`);
    return identityOf(match[2] as string);
  };
}

/** All 5 chunks, in order, from one process. */
export function streamIdentity(text: string): Identity {
  const lines = text.split('\n');
  const last = lines.pop();
  const identities = lines.map((line, n) => {
    const match = /^chunk (\d+) (.*)$/.exec(line);
    return match && Number(match[1]) === n ? parseIdentity(match[2] as string) : undefined;
  });
  const first = identities[0];
  if (
    last !== '' ||
    identities.length !== 5 ||
    !first ||
    identities.some((i) => !i || i.pid !== first.pid || i.version !== first.version)
  ) {
    throw new BadResponse(`stream incomplete or mixed: ${JSON.stringify(text.slice(0, 300))}`);
  }
  return first;
}

export interface Outcome {
  identity: Identity;
  close: boolean;
}

export async function viaUndici(
  dispatcher: Dispatcher,
  pathname: string,
  check: (text: string) => Identity,
  body?: Buffer,
): Promise<Outcome> {
  const response = await dispatcher.request({
    path: pathname,
    method: body ? 'POST' : 'GET',
    ...(body ? { body, headers: { 'content-type': 'application/octet-stream' } } : {}),
    headersTimeout: REQUEST_TIMEOUT_MS,
    bodyTimeout: REQUEST_TIMEOUT_MS,
  });
  const text = await response.body.text();
  if (response.statusCode !== 200) throw new BadResponse(`status ${response.statusCode}: ${text.slice(0, 200)}`);
  return { identity: check(text), close: /close/i.test(String(response.headers.connection ?? '')) };
}

export async function viaAgent(
  agent: http.Agent,
  port: number,
  pathname: string,
  check: (text: string) => Identity,
  body?: Buffer,
): Promise<Outcome> {
  const reply = await agentRequest(agent, port, pathname, {
    method: body ? 'POST' : 'GET',
    body,
    timeoutMs: REQUEST_TIMEOUT_MS,
  });
  if (reply.status !== 200)
    throw Object.assign(new BadResponse(`status ${reply.status}: ${reply.body.slice(0, 200)}`), {
      reusedSocket: reply.reusedSocket,
    });
  try {
    return { identity: check(reply.body), close: /close/i.test(String(reply.headers.connection ?? '')) };
  } catch (error) {
    throw Object.assign(error as Error, { reusedSocket: reply.reusedSocket });
  }
}
