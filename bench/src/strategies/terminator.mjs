// http-terminator 3.2: SIGTERM, the app's handler runs terminate() and exits, then the next build starts.
import { now } from '@baton/core/verify';
import { signal, startNode, waitGone } from '../lib/procs.mjs';
import { app, READY_TIMEOUT_MS, waitNewListener } from './common.mjs';

export const terminator = {
  name: 'http-terminator',
  label: 'http-terminator: terminate(), exit, then start',
  async start(ctx) {
    const { pid } = startNode(app('terminator.cjs'), { env: ctx.env, log: ctx.log });
    this.pid = pid;
    await ctx.events.waitFor('listening', (e) => e.ev === 'listening' && e.pid === pid, READY_TIMEOUT_MS);
  },
  async reload(ctx) {
    const oldPid = this.pid;
    const from = ctx.events.poll().length;
    const signalAt = now();
    signal(oldPid, 'SIGTERM');
    const goneAt = await waitGone(oldPid, READY_TIMEOUT_MS, 2);
    if (goneAt === undefined) throw new Error(`pid ${oldPid} still running ${READY_TIMEOUT_MS} ms after SIGTERM`);
    this.pid = startNode(app('terminator.cjs'), { env: ctx.env, log: ctx.log }).pid;
    const ready = await waitNewListener(ctx, [oldPid], from);
    return { signalAt, readyAt: ready.t, oldPids: [oldPid], newPid: ready.pid };
  },
  async stop() {
    signal(this.pid, 'SIGTERM');
  },
};
