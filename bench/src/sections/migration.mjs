// Section 6: connection migration on against off, in the same run. baton in place (kill -HUP), the same
// app and load as section 1, with BATON_MIGRATE_CONNECTIONS=1 and then =0, nothing else changed: at a
// reload the old generation either hands each idle keep-alive connection to the next one (the client
// keeps its TCP connection) or drains it politely (the client reconnects). Then the same pair behind
// nginx with upstream keep-alive, where the app's clients are nginx's pooled upstream connections. And a
// pair with 2 ms requests only: with the usual mix a 2.5 s request is nearly always in flight at a
// reload and keeps its connection on the old generation until it ends, migration or not; without them
// the time the old generation keeps client connections is the migration's own.
// The machines this runs on are noisy: only numbers of one run are compared.
import { nginxBinary, startNginx, stopNginx } from '../lib/nginx.mjs';
import { baton } from '../strategies/baton.mjs';
import { analyzeMigration } from './migration-analysis.mjs';
import { runStrategy } from './reload.mjs';

/**
 * baton in place with migration on or off, optionally behind nginx (started after the app, stopped
 * after it), optionally with 2 ms requests only.
 */
function variant({ migrate, nginx = false, workOnly = false }) {
  const state = migrate ? 'on' : 'off';
  return {
    ...baton,
    name: `baton-migrate-${state}${nginx ? '-nginx' : ''}${workOnly ? '-2ms' : ''}`,
    label: `baton in place, migration ${state}${nginx ? ', behind nginx' : ''}${workOnly ? ', 2 ms requests only' : ''}`,
    migrate,
    nginx,
    workOnly,
    async start(ctx) {
      ctx.env.BATON_MIGRATE_CONNECTIONS = migrate ? '1' : '0';
      // Behind nginx the app records each upstream connection's remote port (apps/peers.cjs).
      if (nginx) ctx.env.BENCH_PEERS = '1';
      await baton.start.call(this, ctx);
      if (!nginx) return;
      this.proxy = await startNginx({ binary: nginxBinary(), dir: ctx.dir, upstreamPort: ctx.port, log: ctx.log });
      // Killed by pid at the end of the run whatever happens, like the app's processes.
      ctx.extraPids.push(...[this.proxy.pid, ...this.proxy.workerPids].map((pid) => ({ pid, role: 'nginx' })));
    },
    loadPort(ctx) {
      return this.proxy?.port ?? ctx.port;
    },
    async stop(ctx) {
      await baton.stop.call(this, ctx);
      if (this.proxy) await stopNginx(this.proxy);
    },
  };
}

/** In run order: each pair back to back, so both halves see the same machine. */
export function migrationVariants({ nginx, workOnly }) {
  const pairs = [{}, ...(workOnly ? [{ workOnly: true }] : []), ...(nginx ? [{ nginx: true }] : [])];
  return pairs.flatMap((pair) => [variant({ ...pair, migrate: true }), variant({ ...pair, migrate: false })]);
}

/** Why the nginx pair cannot run here, or undefined. */
export function nginxUnavailable() {
  return nginxBinary() ? undefined : 'nginx not installed (looked on the PATH and in /usr/sbin, /usr/local/sbin)';
}

/** Runs one variant under load with R reloads; the result has section 1's numbers and this section's. */
export function runMigrationVariant(v, options, rawDir) {
  const shaped = v.workOnly ? { ...options, load: { ...options.load, workOnly: true } } : options;
  return runStrategy(v, shaped, rawDir, { extend: analyzeMigration }).then((run) => ({
    ...run,
    migrate: v.migrate,
    behindNginx: v.nginx,
    workOnly: v.workOnly,
  }));
}
