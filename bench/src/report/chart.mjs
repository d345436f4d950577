// The picture: latency of the 2 ms requests over time, one panel per strategy, reloads marked,
// failed requests along the top. Vega-Lite compiles the spec, Vega renders SVG in Node (no native deps).
import * as vega from 'vega';
import { compile } from 'vega-lite';
import { BUCKET_MS, LATENCY_KINDS } from '../sections/reload-analysis.mjs';

/** Latencies are drawn on a log scale between these bounds (ms); longer ones sit on the top edge. */
const Y_MIN = 0.5;
const Y_MAX = 5000;

/** `window`: [from, to] seconds since the first reload, to zoom in; the whole run by default. */
export function chartSpec(
  runs,
  { window = [-Infinity, Infinity], title = 'Latency of the 2 ms requests while reloading' } = {},
) {
  const values = [];
  const inside = (t) => t >= window[0] && t <= window[1];
  for (const run of runs) {
    if (!run.timeline) continue;
    const strategy = run.label;
    for (const p of run.timeline) {
      if (!inside(p.t)) continue;
      if (p.n > 0) {
        values.push({ strategy, t: p.t, series: 'p99', ms: clamp(p.p99) });
        values.push({ strategy, t: p.t, series: 'p50', ms: clamp(p.p50) });
      }
      if (p.failed > 0) values.push({ strategy, t: p.t, series: 'failed', ms: Y_MAX, failed: p.failed });
    }
    for (const t of run.reloadMarks.filter(inside)) values.push({ strategy, t, series: 'reload' });
  }
  const x = { field: 't', type: 'quantitative', title: 'seconds since the first reload', axis: { grid: false } };
  const y = {
    field: 'ms',
    type: 'quantitative',
    title: 'latency, ms (log)',
    scale: { type: 'log', domain: [Y_MIN, Y_MAX], clamp: true },
    axis: { values: [1, 10, 100, 1000], grid: true, gridColor: '#eeeeee' },
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: title,
      subtitle: [
        `p50 and p99 per ${BUCKET_MS} ms of ${LATENCY_KINDS.join(', ')} requests; grey lines: reload signals (one a second, or as fast as the strategy allows);`,
        'red dots on the top edge: failed requests in that slice (area ~ count)',
      ],
      anchor: 'start',
    },
    data: { values },
    facet: {
      row: {
        field: 'strategy',
        type: 'nominal',
        title: null,
        sort: runs.map((r) => r.label),
        header: {
          labelAngle: 0,
          labelAlign: 'left',
          labelAnchor: 'start',
          labelOrient: 'top',
          labelFontWeight: 'bold',
        },
      },
    },
    spec: {
      width: 900,
      height: 140,
      layer: [
        {
          transform: [{ filter: "datum.series === 'reload'" }],
          mark: { type: 'rule', color: '#bbbbbb', strokeWidth: 1 },
          encoding: { x },
        },
        {
          transform: [{ filter: "datum.series === 'p50' || datum.series === 'p99'" }],
          mark: { type: 'line', strokeWidth: 1.2, interpolate: 'step-after' },
          encoding: {
            x,
            y,
            color: {
              field: 'series',
              type: 'nominal',
              title: null,
              scale: { domain: ['p50', 'p99'], range: ['#4c78a8', '#f58518'] },
            },
          },
        },
        {
          transform: [{ filter: "datum.series === 'failed'" }],
          mark: { type: 'circle', color: '#d62728', opacity: 0.7 },
          encoding: {
            x,
            y,
            size: {
              field: 'failed',
              type: 'quantitative',
              title: 'failed requests',
              scale: { type: 'sqrt', range: [15, 400] },
              legend: { values: [1, 10, 100, 1000] },
            },
          },
        },
      ],
    },
    resolve: { scale: { x: 'shared' } },
    config: { font: 'sans-serif', view: { stroke: '#dddddd' } },
  };
}

function clamp(ms) {
  return Math.min(Math.max(ms, Y_MIN), Y_MAX);
}

export async function renderSvg(spec) {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}
