// Node's cluster module with worker replacement (apps/cluster-primary.cjs), reloaded with SIGHUP.
import { now } from '@baton/core/verify';
import { signal, startNode } from '../lib/procs.mjs';
import { app, READY_TIMEOUT_MS, waitNewListener } from './common.mjs';

export const cluster = {
  name: 'cluster',
  label: "Node's cluster: fork, then disconnect the old worker",
  async start(ctx) {
    const primary = startNode(app('cluster-primary.cjs'), { env: ctx.env, log: ctx.log });
    this.primaryPid = primary.pid;
    const ready = await ctx.events.waitFor(
      'a worker listening',
      (e) => e.ev === 'listening' && e.role === 'worker',
      READY_TIMEOUT_MS,
    );
    this.workerPid = ready.pid;
  },
  async reload(ctx) {
    const oldPid = this.workerPid;
    const from = ctx.events.poll().length;
    const signalAt = now();
    signal(this.primaryPid, 'SIGHUP');
    const ready = await waitNewListener(ctx, [oldPid], from, 'worker');
    this.workerPid = ready.pid;
    return { signalAt, readyAt: ready.t, oldPids: [oldPid], newPid: ready.pid };
  },
  async stop() {
    signal(this.primaryPid, 'SIGTERM');
  },
};
