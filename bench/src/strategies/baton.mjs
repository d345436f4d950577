// baton in place: `listen(app, ...)`, reloaded with `kill -HUP $(cat app.pid)`, as a deploy script does.
import path from 'node:path';
import { now, sleep } from '@baton/core/verify';
import { signal, startNode } from '../lib/procs.mjs';
import { app, readPidFile, READY_TIMEOUT_MS } from './common.mjs';

/** Waits (bounded) until the pid file names `pid`. */
async function waitForPidFile(file, pid, timeoutMs) {
  const deadline = now() + timeoutMs;
  for (;;) {
    try {
      if (readPidFile(file) === pid) return;
    } catch {
      // Being replaced: read again.
    }
    if (now() > deadline) throw new Error(`the pid file still does not name pid ${pid} after ${timeoutMs} ms`);
    await sleep(2);
  }
}

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
    // The successor writes the pid file once its predecessor confirmed the handover, a moment after it
    // says ready. A reload that lasted longer than the interval sends the next SIGHUP at once: read then,
    // the pid file would still name the retiring generation, which ignores it.
    await waitForPidFile(this.pidFile, outcome.pid, READY_TIMEOUT_MS);
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
