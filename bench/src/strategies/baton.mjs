// baton in place: `listen(app, ...)`, reloaded with `kill -HUP $(cat app.pid)`, as a deploy script does.
import path from 'node:path';
import { now } from '@baton/core/verify';
import { signal, startNode } from '../lib/procs.mjs';
import { app, readPidFile, READY_TIMEOUT_MS } from './common.mjs';

export const baton = {
  name: 'baton',
  label: 'baton in place (kill -HUP)',
  async start(ctx) {
    this.pidFile = path.join(ctx.dir, 'app.pid');
    const { pid } = startNode(app('baton.cjs'), {
      env: { ...ctx.env, BATON_PID_FILE: this.pidFile, BENCH_ROLE: 'generation' },
      log: ctx.log,
    });
    await ctx.events.waitFor('baton ready', (e) => e.ev === 'baton:ready' && e.pid === pid, READY_TIMEOUT_MS);
  },
  async reload(ctx) {
    // The pid file names the serving generation (baton replaces it atomically when the next is ready).
    const oldPid = readPidFile(this.pidFile);
    const from = ctx.events.poll().length;
    const signalAt = now();
    signal(oldPid, 'SIGHUP');
    const outcome = await ctx.events.waitFor(
      'the next generation ready',
      (e) =>
        (e.ev === 'baton:ready' && e.pid !== oldPid) ||
        (e.pid === oldPid && (e.ev === 'baton:reload-failed' || e.ev === 'baton:reload-ignored')),
      READY_TIMEOUT_MS,
      from,
    );
    if (outcome.ev !== 'baton:ready') throw new Error(`pid ${oldPid}: ${outcome.ev}`);
    return { signalAt, readyAt: outcome.t, oldPids: [oldPid], newPid: outcome.pid };
  },
  async stop() {
    try {
      signal(readPidFile(this.pidFile), 'SIGTERM');
    } catch {
      // No pid file: nothing serving.
    }
  },
};
