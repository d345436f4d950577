// pm2 7 in cluster mode (one instance), reloaded with `pm2 reload`. pm2 runs with its own PM2_HOME in
// the run's temporary folder, and the bench stops its daemon (`pm2 kill`, then by pid) at the end.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { now } from '@baton/core/verify';
import { runCommand } from '../lib/procs.mjs';
import { app, READY_TIMEOUT_MS, waitNewListener } from './common.mjs';

const require = createRequire(import.meta.url);
const PM2_BIN = path.join(path.dirname(require.resolve('pm2/package.json')), 'bin', 'pm2');
const NAME = 'bench-app';

function pm2(ctx, args, timeoutMs = 60_000) {
  return runCommand(process.execPath, [PM2_BIN, ...args], { env: { ...ctx.env, PM2_HOME: ctx.pm2Home }, timeoutMs });
}

export const pm2Strategy = {
  name: 'pm2',
  label: 'pm2 reload (cluster mode)',
  async start(ctx) {
    ctx.pm2Home = path.join(ctx.dir, 'pm2-home');
    fs.mkdirSync(ctx.pm2Home, { recursive: true });
    const from = ctx.events.poll().length;
    const started = await pm2({ ...ctx, env: { ...ctx.env, BENCH_ROLE: 'worker' } }, [
      'start',
      app('plain.cjs'),
      '--name',
      NAME,
      '-i',
      '1',
    ]);
    fs.appendFileSync(ctx.log, started.output);
    const daemonPid = Number(fs.readFileSync(path.join(ctx.pm2Home, 'pm2.pid'), 'utf8'));
    ctx.extraPids.push({ pid: daemonPid, role: 'pm2-daemon' });
    this.daemonPid = daemonPid;
    if (started.code !== 0) throw new Error(`pm2 start exited ${started.code}`);
    const ready = await ctx.events.waitFor(
      'a pm2 worker listening',
      (e) => e.ev === 'listening',
      READY_TIMEOUT_MS,
      from,
    );
    this.workerPid = ready.pid;
  },
  async reload(ctx) {
    const oldPid = this.workerPid;
    const from = ctx.events.poll().length;
    const signalAt = now();
    const command = pm2(ctx, ['reload', NAME]);
    const ready = await waitNewListener(ctx, [oldPid], from);
    // The next reload waits for this command: pm2 refuses overlapping reloads of one app.
    const done = await command;
    const commandMs = now() - signalAt;
    if (done.code !== 0) fs.appendFileSync(ctx.log, done.output);
    this.workerPid = ready.pid;
    return { signalAt, readyAt: ready.t, oldPids: [oldPid], newPid: ready.pid, commandMs, commandCode: done.code };
  },
  /** Runs the pm2 CLI (e.g. `jlist`) against this run's daemon. */
  cli(ctx, args, timeoutMs) {
    return pm2(ctx, args, timeoutMs);
  },
  async stop(ctx) {
    const killed = await pm2(ctx, ['kill'], 30_000);
    fs.appendFileSync(ctx.log, killed.output);
  },
};
