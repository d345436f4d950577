import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Every wait in the tests is bounded by this unless a test says otherwise. */
export const WAIT_MS = 20_000;

export const ROOT = path.resolve(__dirname, '..', '..');
export const FIXTURES = path.join(ROOT, 'test', 'fixtures');

/** Pids to kill in teardown: every generation a test has seen, by pid, never by name. */
const seenPids = new Set<number>();

export function rememberPid(pid: number | undefined): void {
  if (pid !== undefined && pid > 1) seenPids.add(pid);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Every process spawnCollecting() starts carries BATON_TEST_SERVICE=<marker> (a fresh one unless the
 * caller set its own), and generations pass their environment on to successors and workers: so
 * teardown finds every generation of every service a test started, including successors the test
 * never learned of because it failed before reading their pid.
 */
export const MARKER_VARIABLE = 'BATON_TEST_SERVICE';
const markers = new Set<string>();

/** Pids of live processes whose initial environment holds one of `wanted` markers. Linux only. */
export function pidsWithMarker(wanted: Iterable<string>): number[] {
  const needles = new Set([...wanted].map((marker) => `${MARKER_VARIABLE}=${marker}`));
  if (needles.size === 0 || process.platform !== 'linux') return [];
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let environ: string;
    try {
      environ = fs.readFileSync(`/proc/${entry}/environ`, 'latin1');
    } catch {
      continue; // Gone meanwhile, or not ours to read.
    }
    if (environ.split('\0').some((variable) => needles.has(variable))) pids.push(Number(entry));
  }
  return pids.sort((a, b) => a - b);
}

/**
 * SIGKILL every process a test started or saw (generations re-parent away from us, so by pid), and
 * every process carrying the marker of a service the test started. Twice: a generation killed in
 * the first round may have spawned a successor just before.
 */
export function killAll(): void {
  for (let round = 0; round < 2; round++) {
    for (const pid of pidsWithMarker(markers)) seenPids.add(pid);
    for (const pid of seenPids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    seenPids.clear();
  }
  markers.clear();
}

export async function waitFor<T>(
  what: string | (() => string),
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = WAIT_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export function tempDir(prefix = 'baton-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function readPid(file: string): number | undefined {
  try {
    const text = fs.readFileSync(file, 'utf8').trim();
    return /^\d+$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

export interface Server {
  child: ChildProcess;
  pid: number;
  /** Everything every generation wrote to stdout and stderr so far (they share the pipes). */
  output(): string;
  /** Resolves with the first generation's exit code and signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts a fixture server. Its successors inherit the same stdout/stderr pipes, so output()
 * covers every generation. The fixture prints `listening <port>` once it is up.
 */
export function startServer(
  script: string,
  env: Record<string, string> = {},
  command: string[] = [process.execPath],
): Server {
  const [file, ...args] = command;
  // NODE_PATH: pnpm's jest launcher sets it, and it would hide module-resolution bugs a deployed app has.
  return spawnCollecting(file as string, [...args, script], {
    ...process.env,
    BATON_LOG: 'debug',
    NODE_PATH: '',
    ...env,
  });
}

/** Spawns a process whose pid is remembered for teardown and whose stdout and stderr are collected. */
export function spawnCollecting(file: string, args: string[], env: NodeJS.ProcessEnv): Server {
  const marker = env[MARKER_VARIABLE] || randomUUID();
  markers.add(marker);
  const child = spawn(file, args, { env: { ...env, [MARKER_VARIABLE]: marker }, stdio: ['ignore', 'pipe', 'pipe'] });
  rememberPid(child.pid);
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return { child, pid: child.pid as number, output: () => text, exited };
}

/** Waits for the `listening <port>` line a fixture prints and returns the port. */
export async function waitForPort(server: Server): Promise<number> {
  return waitFor(
    () => `a listening line from pid ${server.pid}; output so far:\n${server.output()}`,
    () => {
      const match = /listening (\d+)/.exec(server.output());
      return match ? Number(match[1]) : undefined;
    },
  );
}

/** Waits until the pid file names a live process other than `notPid`, and returns it. */
export async function waitForPidFileChange(file: string, notPid: number): Promise<number> {
  const pid = await waitFor(`pid file ${file} to name a process other than ${notPid}`, () => {
    const pid = readPid(file);
    return pid !== undefined && pid !== notPid ? pid : undefined;
  });
  rememberPid(pid);
  return pid;
}

export async function waitForExit(pid: number, timeoutMs = WAIT_MS): Promise<void> {
  await waitFor(`pid ${pid} to exit`, () => !isAlive(pid) || undefined, timeoutMs);
}
