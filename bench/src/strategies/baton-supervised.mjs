// baton supervised mode: `baton run -- node app.js`. The supervisor keeps one pid and the listening
// socket; a reload starts new workers next to the old ones, waits until they are ready and have stayed up
// the settle time, then retires the old ones. Skipped (reported as not run) when @baton/core has no built
// `baton` bin.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { now } from '@baton/core/verify';
import { controlRequest } from '../lib/control.mjs';
import { runCommand, signal, startNode } from '../lib/procs.mjs';
import { app, READY_TIMEOUT_MS } from './common.mjs';

const CORE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'packages', 'core');
/** How long the bench waits for a supervised reload's outcome (start, ready, settle time, for each worker). */
const RELOAD_OUTCOME_TIMEOUT_MS = 120_000;

export function batonBin() {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(CORE, 'package.json'), 'utf8'));
    const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin?.baton;
    return bin ? path.join(CORE, bin) : undefined;
  } catch {
    return undefined;
  }
}

/** baton's defaults as built (DEFAULTS of @baton/core's options module), or undefined when unreadable. */
export function batonDefaults() {
  try {
    return { ...createRequire(path.join(CORE, 'package.json'))('./dist/options.js').DEFAULTS };
  } catch {
    return undefined;
  }
}

export const batonSupervised = {
  name: 'baton-run',
  label: 'baton supervised (baton run)',
  available() {
    const bin = batonBin();
    if (!bin || !fs.existsSync(bin))
      return {
        ok: false,
        reason: '`baton run` is not available (no built `baton` bin in @baton/core; run `pnpm build`)',
      };
    return { ok: true };
  },
  /** ctx.workers: how many workers `baton run` keeps (default 1). */
  async start(ctx) {
    const workers = ctx.workers ?? 1;
    this.pidFile = path.join(ctx.dir, 'run.pid');
    this.control = path.join(ctx.dir, 'run.sock');
    const from = ctx.events.poll().length;
    const supervisor = startNode(batonBin(), {
      env: { ...ctx.env, BENCH_ROLE: 'generation' },
      log: ctx.log,
      args: [
        'run',
        '--workers',
        String(workers),
        '--pid-file',
        this.pidFile,
        '--control',
        this.control,
        '--',
        process.execPath,
        app('baton.cjs'),
      ],
    });
    this.supervisorPid = supervisor.pid;
    ctx.extraPids.push({ pid: supervisor.pid, role: 'supervisor' });
    const readyPids = () =>
      new Set(
        ctx.events
          .poll()
          .slice(from)
          .filter((e) => e.ev === 'baton:ready')
          .map((e) => e.pid),
      );
    await ctx.events.waitFor(
      `${workers} worker(s) ready`,
      (e) => e.ev === 'baton:ready' && readyPids().size >= workers,
      READY_TIMEOUT_MS,
      from,
    );
  },
  async reload(ctx) {
    const from = ctx.events.poll().length;
    const signalAt = now();
    // What `baton reload` does under `baton run`: ask the supervisor over its control socket and wait for
    // the outcome. A rolling reload lasts at least the settle time, and a SIGHUP that arrives meanwhile is
    // ignored, so the next reload waits for this one (as pm2's does).
    const result = await controlRequest(this.control, 'reload', RELOAD_OUTCOME_TIMEOUT_MS);
    const commandMs = now() - signalAt;
    if (!result.ok) throw new Error(`reload failed (${result.error?.code}): ${result.error?.message}`);
    const { pids, previousPids } = result.reload;
    const newPid = pids.at(-1);
    const ready = await ctx.events.waitFor(
      `worker ${newPid} ready`,
      (e) => e.ev === 'baton:ready' && e.pid === newPid,
      READY_TIMEOUT_MS,
      from,
    );
    return { signalAt, readyAt: ready.t, oldPids: previousPids, newPid, commandMs };
  },
  /** Runs the `baton` CLI (e.g. `reload`, `status`) against this supervisor's control socket. */
  cli(ctx, args, timeoutMs = RELOAD_OUTCOME_TIMEOUT_MS) {
    return runCommand(process.execPath, [batonBin(), ...args, '--control', this.control], { env: ctx.env, timeoutMs });
  },
  async stop() {
    signal(this.supervisorPid, 'SIGTERM');
  },
};
