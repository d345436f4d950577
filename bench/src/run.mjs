#!/usr/bin/env node
// `pnpm bench`: reload under load (baton against what users would pick instead), a build that dies
// 1 s after ready, overhead of listen(app), start-up cost, a chart, and connection migration on against off. A complete `--full` run writes the
// committed report (bench/results/{report.md,results.json,latency.svg,latency-zoom.svg}); a quick run
// writes to bench/results/quick/, any other run to bench/results/partial/, smoke to bench/results/raw/smoke/.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PRESETS } from './config.mjs';
import { chartSpec, renderSvg } from './report/chart.mjs';
import {
  dyingTable,
  failuresTable,
  latencyTable,
  overheadTable,
  renderReport,
  startupTable,
  targets,
  targetsTable,
} from './report/markdown.mjs';
import { migrationTables } from './report/migration.mjs';
import { DYING_STRATEGIES, runDyingBuild } from './sections/dying-build.mjs';
import { migrationVariants, nginxUnavailable, runMigrationVariant } from './sections/migration.mjs';
import { runOverhead } from './sections/overhead.mjs';
import { runStrategy } from './sections/reload.mjs';
import { runStartup } from './sections/startup.mjs';
import { batonDefaults } from './strategies/baton-supervised.mjs';
import { STRATEGIES } from './strategies/index.mjs';

const BENCH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const REPO = path.resolve(BENCH, '..');
const SECTIONS = ['reload', 'dying-build', 'overhead', 'startup', 'migration'];

const HELP = `Usage: pnpm bench [options]        (pnpm bench:smoke for the CI run)

  --full               100 reloads per strategy, longer steady state, 8 overhead pairs, 30 start-up samples,
                       3 dying-build trials; only a --full run with no --sections/--strategies/size knob
                       writes the committed report in bench/results
  --smoke              tiny numbers (CI): checks the bench still runs; writes to bench/results/raw/smoke
  --reloads N          reloads per strategy (quick: ${PRESETS.quick.reloads}, full: ${PRESETS.full.reloads}; migration
                       section: ${PRESETS.quick.migration.reloads} / ${PRESETS.full.migration.reloads} per variant)
  --duration S         seconds of steady-state load before the reloads (quick: ${PRESETS.quick.steadyMs / 1000}, full: ${PRESETS.full.steadyMs / 1000})
  --interval MS        milliseconds between reload signals (default 1000; migration section ${PRESETS.quick.migration.intervalMs})
  --tail S             seconds of load after the last reload
  --strategies LIST    comma-separated, of: ${STRATEGIES.map((s) => s.name).join(', ')}
  --sections LIST      comma-separated, of: ${SECTIONS.join(', ')}
  --pairs N            A/B pairs per server in the overhead section
  --samples N          samples per start-up measurement
  --trials N           trials per strategy of the dying-build section (quick: ${PRESETS.quick.dying.trials}, full: ${PRESETS.full.dying.trials})
  --seed N             seed of the request mix (default 1)
  --out DIR            where report.md, results.json and the charts go (default: bench/results for a
                       complete --full run, bench/results/quick for a quick run, bench/results/partial
                       for any other)
  -h, --help`;

function options() {
  const { values } = parseArgs({
    options: {
      full: { type: 'boolean' },
      smoke: { type: 'boolean' },
      reloads: { type: 'string' },
      duration: { type: 'string' },
      interval: { type: 'string' },
      tail: { type: 'string' },
      strategies: { type: 'string' },
      sections: { type: 'string' },
      pairs: { type: 'string' },
      samples: { type: 'string' },
      trials: { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const presetName = values.smoke ? 'smoke' : values.full ? 'full' : 'quick';
  const preset = structuredClone(PRESETS[presetName]);
  const num = (name, value, min) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} ${value}: expected a number ≥ ${min}`);
    return n;
  };
  const list = (name, value, allowed) => {
    const items = value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = items.filter((i) => !allowed.includes(i));
    if (bad.length) throw new Error(`--${name}: unknown ${bad.join(', ')} (expected ${allowed.join(', ')})`);
    return items;
  };
  // The run-shape knobs apply to both sections that reload under load (1 and migration).
  for (const shape of [preset, preset.migration]) {
    if (values.reloads !== undefined) shape.reloads = Math.round(num('reloads', values.reloads, 1));
    if (values.duration !== undefined) shape.steadyMs = num('duration', values.duration, 1) * 1000;
    if (values.interval !== undefined) shape.intervalMs = num('interval', values.interval, 100);
    if (values.tail !== undefined) shape.tailMs = num('tail', values.tail, 0) * 1000;
  }
  if (values.pairs !== undefined) preset.overhead.pairs = Math.round(num('pairs', values.pairs, 1));
  if (values.samples !== undefined) preset.startup.samples = Math.round(num('samples', values.samples, 1));
  if (values.trials !== undefined) preset.dying.trials = Math.round(num('trials', values.trials, 1));
  preset.seed = values.seed !== undefined ? Math.round(num('seed', values.seed, 0)) : 1;
  // The committed report is a complete full run's: anything smaller goes to its own folder.
  const sizeKnobs = [
    'reloads',
    'duration',
    'interval',
    'tail',
    'pairs',
    'samples',
    'trials',
    'seed',
    'sections',
    'strategies',
  ];
  const complete = presetName === 'full' && sizeKnobs.every((k) => values[k] === undefined);
  const folder =
    presetName === 'smoke' ? path.join('raw', 'smoke') : complete ? '.' : presetName === 'quick' ? 'quick' : 'partial';
  const out = path.resolve(values.out ?? path.join(BENCH, 'results', folder));
  const defaultRaw = complete
    ? path.join(BENCH, 'results', 'raw')
    : path.join(BENCH, 'results', 'raw', path.basename(out));
  return {
    presetName,
    options: preset,
    strategies: values.strategies
      ? list(
          'strategies',
          values.strategies,
          STRATEGIES.map((s) => s.name),
        )
      : STRATEGIES.map((s) => s.name),
    sections: values.sections ? list('sections', values.sections, SECTIONS) : SECTIONS,
    out,
    // Per-request data of a run written elsewhere goes beside the default run's, under its own name.
    raw:
      presetName === 'smoke'
        ? path.join(out, 'raw')
        : values.out
          ? path.join(BENCH, 'results', 'raw', path.basename(out))
          : defaultRaw,
    selectedStrategies: values.strategies !== undefined,
  };
}

function gitSource() {
  if (process.env.BENCH_SOURCE) return process.env.BENCH_SOURCE;
  try {
    const run = (...args) =>
      execFileSync('git', ['-C', REPO, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const commit = run('rev-parse', '--short', 'HEAD');
    const dirty = run('status', '--porcelain', '--', 'packages').split('\n').filter(Boolean).length;
    return `commit ${commit}${dirty ? ` plus uncommitted changes to ${dirty} file(s) under packages/` : ''}, built with \`pnpm build\``;
  } catch {
    return 'unknown source (no git)';
  }
}

function versions() {
  const require = createRequire(path.join(BENCH, 'package.json'));
  const v = (name) => {
    // ESM-only packages (vega) may not export package.json; the link in node_modules still has it.
    for (const file of [
      () => require.resolve(`${name}/package.json`),
      () => path.join(BENCH, 'node_modules', name, 'package.json'),
    ]) {
      try {
        return JSON.parse(fs.readFileSync(file(), 'utf8')).version;
      } catch {
        // try the next way
      }
    }
    return '?';
  };
  return Object.fromEntries(
    ['express', 'koa', 'undici', 'autocannon', 'http-terminator', 'pm2', 'vega', 'vega-lite'].map((n) => [n, v(n)]),
  );
}

const log = (line) => console.error(`[bench] ${line}`);

async function main() {
  const started = Date.now();
  const { presetName, options: opts, strategies, sections, out, raw, selectedStrategies } = options();
  fs.mkdirSync(out, { recursive: true });
  fs.mkdirSync(raw, { recursive: true });
  const meta = {
    preset: presetName,
    command: ['pnpm bench', ...process.argv.slice(2)].join(' '),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model?.trim() ?? '?',
    memGB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.type()} ${os.release()}`,
    node: process.version,
    loadBefore: os.loadavg().map((l) => l.toFixed(2)),
    batonSource: gitSource(),
    versions: versions(),
    // baton's settle time as the servers see it: the rollback window in place, each rolling step under baton run.
    batonSettle: `${process.env.BATON_SETTLE_MS ?? batonDefaults()?.settleMs ?? '?'} ms (${process.env.BATON_SETTLE_MS !== undefined ? 'BATON_SETTLE_MS' : "baton's default"})`,
  };
  log(
    `${presetName} run, load average ${meta.loadBefore.join(' ')}; results in ${path.relative(process.cwd(), out) || '.'}`,
  );
  if (path.resolve(out) !== path.join(BENCH, 'results') && presetName !== 'smoke')
    log('(the committed report in bench/results is written only by a complete `--full` run, or with --out)');
  const results = { meta, options: opts };
  let failedHarness = false;

  if (sections.includes('reload')) {
    results.reload = [];
    results.skipped = [];
    for (const strategy of STRATEGIES.filter((s) => strategies.includes(s.name))) {
      const availability = strategy.available?.() ?? { ok: true };
      if (!availability.ok) {
        results.skipped.push({ name: strategy.name, label: strategy.label, reason: availability.reason });
        log(`${strategy.name}: skipped (${availability.reason})`);
        continue;
      }
      log(`${strategy.name}: ${opts.reloads} reloads under load…`);
      const run = await runStrategy(strategy, opts, raw);
      results.reload.push(run);
      if (run.errors.length || !run.requests || run.requests.total === 0) failedHarness = true;
      if (run.requests)
        log(`${strategy.name}: ${run.reloadsDone} reloads, ${run.requests.total} requests, ${run.failed.total} failed`);
      for (const e of run.errors) log(`${strategy.name}: ${e.split('\n')[0]}`);
    }
  }
  if (sections.includes('dying-build')) {
    const d = opts.dying;
    // The smoke preset runs a shorter list; --strategies picks from the section's own.
    const names = selectedStrategies
      ? DYING_STRATEGIES.filter((n) => strategies.includes(n))
      : (d.strategies ?? DYING_STRATEGIES);
    results.dying = [];
    results.dyingSkipped = [];
    for (const strategy of STRATEGIES.filter((s) => names.includes(s.name))) {
      const availability = strategy.available?.() ?? { ok: true };
      if (!availability.ok) {
        results.dyingSkipped.push({ name: strategy.name, label: strategy.label, reason: availability.reason });
        log(`dying-build ${strategy.name}: skipped (${availability.reason})`);
        continue;
      }
      for (let trial = 1; trial <= d.trials; trial += 1) {
        log(
          `dying-build ${strategy.name}${d.trials > 1 ? ` trial ${trial}/${d.trials}` : ''}: reload onto a build that dies ${d.diesAfterMs / 1000} s after ready…`,
        );
        const run = await runDyingBuild(strategy, { ...d, seed: opts.seed }, raw, trial);
        results.dying.push(run);
        if (run.errors.length || !run.requests || run.requests.total === 0) failedHarness = true;
        if (run.requests) {
          const when =
            run.probe.afterDeathMs !== undefined
              ? `${run.probe.afterDeathMs / 1000} s after the death`
              : `${run.probe.afterSignalMs / 1000} s after the reload`;
          const up = run.upLater
            ? `up ${when} (${run.probe.build} answered)`
            : `DOWN ${when} (${run.probe.error ?? `HTTP ${run.probe.status}`})`;
          log(
            `dying-build ${strategy.name}: ${run.reload.tool}${run.reload.exitCode !== undefined ? ` exit ${run.reload.exitCode}` : ''}; ${run.failed.total} of ${run.requests.total} requests failed; ${up}`,
          );
        }
        for (const e of run.errors) log(`dying-build ${strategy.name}: ${e.split('\n')[0]}`);
      }
    }
  }
  if (sections.includes('overhead')) {
    log('overhead: listen(app) against app.listen…');
    results.overhead = await runOverhead(opts.overhead, log);
  }
  if (sections.includes('startup')) {
    log('start-up: bare node app.js against a baton successor…');
    results.startup = await runStartup(opts.startup, log);
  }
  if (sections.includes('migration')) {
    const m = opts.migration;
    results.migration = { runs: [], skipped: [] };
    // Behind nginx only where nginx is installed: its absence is reported, never a failure.
    const noNginx = m.nginx ? nginxUnavailable() : undefined;
    if (noNginx) {
      results.migration.skipped.push({ label: 'baton in place behind nginx (migration on and off)', reason: noNginx });
      log(`migration behind nginx: skipped: ${noNginx}`);
    }
    for (const v of migrationVariants({ nginx: m.nginx && !noNginx, workOnly: m.workOnly })) {
      log(`migration ${v.name}: ${m.reloads} reloads, one every ${m.intervalMs / 1000} s, under load…`);
      const run = await runMigrationVariant(v, { ...m, seed: opts.seed }, raw);
      results.migration.runs.push(run);
      if (run.errors.length || !run.requests || run.requests.total === 0) failedHarness = true;
      if (run.requests)
        log(
          `migration ${v.name}: ${run.reloadsDone} reloads, ${run.requests.total} requests, ${run.failed.total} failed, ${run.connections?.perReload ?? '?'} new client connections per reload`,
        );
      for (const e of run.errors) log(`migration ${v.name}: ${e.split('\n')[0]}`);
    }
  }
  if (results.reload?.some((r) => r.timeline)) {
    const runs = results.reload.filter((r) => r.timeline);
    fs.writeFileSync(path.join(out, 'latency.svg'), await renderSvg(chartSpec(runs)));
    const zoom = [-2, Math.min(8, (opts.reloads * opts.intervalMs) / 1000 + 2)];
    fs.writeFileSync(
      path.join(out, 'latency-zoom.svg'),
      await renderSvg(
        chartSpec(runs, {
          window: zoom,
          title: `The same, from ${zoom[0]} s to ${zoom[1]} s around the first reloads`,
        }),
      ),
    );
    results.chart = 'latency.svg';
    results.chartZoom = 'latency-zoom.svg';
  }

  meta.loadAfter = os.loadavg().map((l) => l.toFixed(2));
  meta.finishedAt = new Date().toISOString();
  meta.durationS = (Date.now() - started) / 1000;
  const report = renderReport(results);
  fs.writeFileSync(path.join(out, 'report.md'), report);
  // The JSON keeps every summary and the chart's series; per-request data stays in raw/.
  fs.writeFileSync(
    path.join(out, 'results.json'),
    `${JSON.stringify(results, (key, value) => (key === 'failures' && Array.isArray(value) ? value.slice(0, 200) : value), 1)}\n`,
  );

  const printed = [];
  const t = targets(results);
  if (t.length) printed.push('Targets', targetsTable(t), '');
  if (results.reload?.length)
    printed.push(
      'Reload under load: failed requests',
      failuresTable(results.reload),
      '',
      'Reload under load: latency, reload time, processes',
      latencyTable(results.reload),
      '',
    );
  if (results.dying?.length)
    printed.push('A build that dies 1 s after ready', dyingTable(results.dying, opts.dying.laterMs), '');
  if (results.overhead) printed.push('Overhead', overheadTable(results.overhead), '');
  if (results.startup) printed.push('Start-up', startupTable(results.startup), '');
  if (results.migration) printed.push(...migrationTables(results.migration), '');
  console.log(printed.join('\n'));
  log(`report: ${path.join(out, 'report.md')} (${Math.round(meta.durationS)} s)`);
  if (failedHarness) {
    log('the harness itself failed for at least one strategy (see "Errors of the harness" in the report)');
    process.exitCode = 1;
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
