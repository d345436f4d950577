#!/usr/bin/env node
// After `tsc` in a package: removes from dist/ what the current build did not write, so nothing stale is
// published: source maps (the build has none, and src/ is not shipped) and the output of deleted sources.
const fs = require('node:fs');
const path = require('node:path');

const dist = path.resolve('dist');
const src = path.resolve('src');
const OUTPUT = /\.(js|d\.ts)$/;

function prune(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      prune(file);
      if (fs.readdirSync(file).length === 0) fs.rmdirSync(file);
      continue;
    }
    const source = path.join(src, path.relative(dist, file)).replace(OUTPUT, '.ts');
    if (entry.name.endsWith('.map') || !OUTPUT.test(entry.name) || !fs.existsSync(source)) fs.rmSync(file);
  }
}

if (fs.existsSync(dist)) prune(dist);
