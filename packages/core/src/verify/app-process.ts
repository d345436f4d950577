// The app under test: started with a control socket and JSON logs, its output read line by line for
// baton's lifecycle events (BATON_LOG_FORMAT=json: one object a line with `event`; a pino logger
// configured in code writes the same fields on stdout).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { now } from './clock';

/** One lifecycle step baton logged, from any generation or worker of the app. */
export interface BatonEvent {
  event: string;
  level: 'error' | 'warn' | 'info' | 'debug';
  pid: number;
  msg: string;
  /** When verify read the line (wall-clock ms). */
  at: number;
  /** Every other field of the line (successorPid, readyMs, forced, durationMs, code, ...). */
  fields: Record<string, unknown>;
}

export interface AppExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  at: number;
  /** Set when the command could not be started at all. */
  error?: string;
}

export interface AppSpawn {
  file: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** Every line of the app's output is appended here, when set. */
  logFile?: string;
}

const PINO_LEVELS: Record<number, BatonEvent['level']> = {
  10: 'debug',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'error',
};
const TAIL_LINES = 40;

/** A baton lifecycle line, or undefined for anything else the app printed. */
export function parseEventLine(line: string, at: number): BatonEvent | undefined {
  if (!line.startsWith('{')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object') return undefined;
  const { event, msg, pid, level, ...fields } = parsed as Record<string, unknown>;
  delete fields.time;
  if (typeof event !== 'string' || typeof msg !== 'string' || typeof pid !== 'number') return undefined;
  const named = typeof level === 'number' ? PINO_LEVELS[level] : level;
  const known = named === 'error' || named === 'warn' || named === 'info' || named === 'debug' ? named : 'info';
  return { event, level: known, pid, msg, at, fields };
}

export class AppProcess {
  readonly child: ChildProcess;
  readonly events: BatonEvent[] = [];
  readonly exited: Promise<AppExit>;
  exit: AppExit | undefined;
  private readonly tail: string[] = [];
  private readonly listeners = new Set<(event: BatonEvent) => void>();
  private logFd: number | undefined;

  constructor(spec: AppSpawn) {
    this.logFd = spec.logFile ? fs.openSync(spec.logFile, 'a') : undefined;
    this.child = spawn(spec.file, spec.args, { env: spec.env, cwd: spec.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise<AppExit>((resolve) => {
      this.child.once('error', (error) => {
        this.exit = { code: null, signal: null, at: now(), error: error.message };
        resolve(this.exit);
      });
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal, at: now() };
        resolve(this.exit);
      });
    });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      let buffered = '';
      stream?.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('utf8');
        for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
          this.line(buffered.slice(0, nl));
          buffered = buffered.slice(nl + 1);
        }
      });
      stream?.on('end', () => {
        if (buffered !== '') this.line(buffered);
        buffered = '';
      });
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Calls `listener` with every lifecycle event from now on; returns the way to stop. */
  onEvent(listener: (event: BatonEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The first event from index `from` on that matches, waiting up to timeoutMs; undefined if none came. */
  waitForEvent(match: (event: BatonEvent) => boolean, timeoutMs: number, from = 0): Promise<BatonEvent | undefined> {
    const seen = this.events.slice(from).find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        stop();
        resolve(undefined);
      }, timeoutMs);
      timer.unref();
      const stop = this.onEvent((event) => {
        if (!match(event)) return;
        clearTimeout(timer);
        stop();
        resolve(event);
      });
    });
  }

  /** The last lines the app printed (lifecycle lines included), for a report on a failed start. */
  outputTail(): string[] {
    return [...this.tail];
  }

  /** Every pid that logged a lifecycle step. */
  pidsSeen(): number[] {
    return [...new Set(this.events.map((e) => e.pid))];
  }

  close(): void {
    if (this.logFd !== undefined) fs.closeSync(this.logFd);
    this.logFd = undefined;
  }

  private line(text: string): void {
    const line = text.replace(/\r$/, '');
    if (this.logFd !== undefined) fs.writeSync(this.logFd, `${line}\n`);
    this.tail.push(line.length > 400 ? `${line.slice(0, 400)}...` : line);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
    const event = parseEventLine(line, now());
    if (!event) return;
    this.events.push(event);
    for (const listener of [...this.listeners]) listener(event);
  }
}
