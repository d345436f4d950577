// The seed's first script: `kill -9 $(cat app.pid); node app.js &`.
import { now } from '@baton/core/verify';
import { signal, startNode } from '../lib/procs.mjs';
import { app, READY_TIMEOUT_MS, waitNewListener } from './common.mjs';

export const naive = {
  name: 'naive',
  label: 'naive: kill -9, then start',
  async start(ctx) {
    const { pid } = startNode(app('plain.cjs'), { env: ctx.env, log: ctx.log });
    this.pid = pid;
    await ctx.events.waitFor('listening', (e) => e.ev === 'listening' && e.pid === pid, READY_TIMEOUT_MS);
  },
  async reload(ctx) {
    const oldPid = this.pid;
    const from = ctx.events.poll().length;
    const signalAt = now();
    signal(oldPid, 'SIGKILL');
    this.pid = startNode(app('plain.cjs'), { env: ctx.env, log: ctx.log }).pid;
    const ready = await waitNewListener(ctx, [oldPid], from);
    return { signalAt, readyAt: ready.t, oldPids: [oldPid], newPid: ready.pid };
  },
  async stop() {
    signal(this.pid, 'SIGTERM');
  },
};
