#!/usr/bin/env node
// Renders report.md and the charts again from a results.json, without running anything:
// `node bench/src/render.mjs [bench/results/results.json]`.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chartSpec, renderSvg } from './report/chart.mjs';
import { renderReport } from './report/markdown.mjs';

const file = path.resolve(
  process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'results', 'results.json'),
);
const dir = path.dirname(file);
const results = JSON.parse(fs.readFileSync(file, 'utf8'));
const runs = results.reload?.filter((r) => r.timeline) ?? [];
if (runs.length) {
  fs.writeFileSync(path.join(dir, 'latency.svg'), await renderSvg(chartSpec(runs)));
  const o = results.options;
  const zoom = [-2, Math.min(8, (o.reloads * o.intervalMs) / 1000 + 2)];
  fs.writeFileSync(
    path.join(dir, 'latency-zoom.svg'),
    await renderSvg(
      chartSpec(runs, { window: zoom, title: `The same, from ${zoom[0]} s to ${zoom[1]} s around the first reloads` }),
    ),
  );
  results.chart = 'latency.svg';
  results.chartZoom = 'latency-zoom.svg';
}
fs.writeFileSync(path.join(dir, 'report.md'), renderReport(results));
console.log(`rendered ${path.join(dir, 'report.md')}`);
