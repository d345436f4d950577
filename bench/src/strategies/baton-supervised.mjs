// baton supervised mode: `baton run -- node app.js`. The supervisor keeps one pid and the listening
// socket; SIGHUP to it starts a new worker, waits until it is ready, then retires the old one.
// Skipped (reported as not run) when @baton/core has no built `baton` bin.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { now } from '../lib/clock.mjs';
import { signal, startNode } from '../lib/procs.mjs';
import { app, READY_TIMEOUT_MS } from './common.mjs';

const CORE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'packages', 'core');

function batonBin() {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(CORE, 'package.json'), 'utf8'));
    const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin?.baton;
    return bin ? path.join(CORE, bin) : undefined;
  } catch {
    return undefined;
  }
}

export const batonSupervised = {
  name: 'baton-run',
  label: 'baton supervised (baton run)',
  available() {
    const bin = batonBin();
    if (!bin || !fs.existsSync(bin)) return { ok: false, reason: '`baton run` is not available (no built `baton` bin in @baton/core; run `pnpm build`)' };
    return { ok: true };
  },
  async start(ctx) {
    const supervisor = startNode(batonBin(), {
      env: { ...ctx.env, BENCH_ROLE: 'generation' },
      log: ctx.log,
      args: ['run', '--', process.execPath, app('baton.cjs')],
    });
    this.supervisorPid = supervisor.pid;
    ctx.extraPids.push({ pid: supervisor.pid, role: 'supervisor' });
    await ctx.events.waitFor('first generation ready', (e) => e.ev === 'baton:ready', READY_TIMEOUT_MS);
  },
  async reload(ctx) {
    const serving = ctx.events.poll().filter((e) => e.ev === 'baton:ready').at(-1).pid;
    const from = ctx.events.poll().length;
    const signalAt = now();
    // What `baton reload --pid-file` does under `baton run`: SIGHUP to the supervisor.
    signal(this.supervisorPid, 'SIGHUP');
    const ready = await ctx.events.waitFor('the next generation ready', (e) => e.ev === 'baton:ready' && e.pid !== serving, READY_TIMEOUT_MS, from);
    return { signalAt, readyAt: ready.t, oldPids: [serving], newPid: ready.pid };
  },
  async stop() {
    signal(this.supervisorPid, 'SIGTERM');
  },
};
