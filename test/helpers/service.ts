import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { Reply } from './http';
import { MARKER_VARIABLE, pidsWithMarker, rememberPid, WAIT_MS, waitFor, type Server } from './processes';

/**
 * Every process of one service carries BATON_TEST_SERVICE=<marker> in its environment (generations
 * copy process.env to their successors), so the test can count the generations alive at any moment
 * by scanning /proc, whatever their parent is now. spawnCollecting() sets a fresh one unless given.
 */
export { MARKER_VARIABLE };

/**
 * The environment a real deployment has and the test runner does not: pnpm's `jest` shim exports
 * NODE_PATH=<...>/node_modules/.pnpm/node_modules, which lets a process find every hoisted package
 * even when its own symlinked node_modules cannot be resolved. That once hid a real bug (a successor
 * could not load express under pnpm), so the process tests run their servers without it.
 */
export const DEPLOYED_ENV: Record<string, string> = { NODE_PATH: '' };

export function newMarker(): string {
  return randomUUID();
}

/** Pids of live (non-zombie) processes whose initial environment holds the marker. Linux only. */
export function servicePids(marker: string): number[] {
  const pids = pidsWithMarker([marker]);
  for (const pid of pids) rememberPid(pid);
  return pids;
}

/**
 * Samples servicePids() every few ms until stopped; reports the most processes seen at once.
 * A sampler can miss a short-lived state, never invent one: `max` is a lower bound.
 */
export function sampleServicePids(marker: string, everyMs = 5): { stop(): { max: number; seen: number[] } } {
  let max = 0;
  const seen = new Set<number>();
  const timer = setInterval(() => {
    const pids = servicePids(marker);
    max = Math.max(max, pids.length);
    for (const pid of pids) seen.add(pid);
  }, everyMs);
  // A test that fails before stop() must not keep jest alive.
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      const pids = servicePids(marker);
      max = Math.max(max, pids.length);
      for (const pid of pids) seen.add(pid);
      return { max, seen: [...seen].sort((a, b) => a - b) };
    },
  };
}

/** Every pid the core logged as `next generation is pid N` (debug level), in order; each is remembered. */
export function successorPidsFromLog(output: string): number[] {
  const pids = [...output.matchAll(/next generation is pid (\d+)/g)].map((m) => Number(m[1]));
  for (const pid of pids) rememberPid(pid);
  return pids;
}

export function countMatches(output: string, pattern: RegExp): number {
  const flags = pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`;
  return [...output.matchAll(new RegExp(pattern.source, flags))].length;
}

/** Waits until the output of every generation so far matches `pattern` at least `times` times. */
export async function waitForOutput(server: Server, pattern: RegExp, times = 1, timeoutMs?: number): Promise<string> {
  return waitFor(
    `${times} × ${pattern} in the output of pid ${server.pid}`,
    () => {
      const output = server.output();
      return countMatches(output, pattern) >= times ? output : undefined;
    },
    timeoutMs,
  );
}

/** Waits for the `listening <address>` line and returns the address as printed (a port or a path). */
export async function waitForListeningAddress(server: Server): Promise<string> {
  return waitFor(`a listening line from pid ${server.pid}`, () => /listening (\S+)/.exec(server.output())?.[1]);
}

/** One request over a unix socket on a fresh connection. */
export function requestUnix(socketPath: string, pathname: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path: pathname, method: 'GET', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`request ${pathname} on ${socketPath} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** A port that was free a moment ago on 127.0.0.1 (bound to port 0, then closed). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function writeBuild(dir: string, version: string, behavior = 'ok'): void {
  fs.writeFileSync(path.join(dir, 'build.json'), JSON.stringify({ version, behavior }));
}

/** The first generation's exit code and signal, waiting at most `timeoutMs` for it. */
export async function exitOf(
  server: Server,
  timeoutMs = WAIT_MS,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new Error(`pid ${server.pid} did not exit within ${timeoutMs} ms; output:\n${server.output()}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([server.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
