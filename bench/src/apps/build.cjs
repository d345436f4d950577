// Which build this process runs, for the "build that dies" section (sections/dying-build.mjs): the
// section writes the deployed build's name to $BENCH_BUILD_FILE before each reload, as a deploy puts new
// code on disk, and every process reads it once when it starts. A build named `…-dies` exits with code 1
// $BENCH_DIES_AFTER_MS (default 1000) after it is ready. Without $BENCH_BUILD_FILE (every other section)
// this does nothing.
const fs = require('node:fs');
const { record } = require('./events.cjs');

const DIES_AFTER_MS = Number(process.env.BENCH_DIES_AFTER_MS) || 1000;

function readBuild() {
  const file = process.env.BENCH_BUILD_FILE;
  if (!file) return undefined;
  try {
    return fs.readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

const build = readBuild();
if (build !== undefined) record('build', { build });

let armed = false;
/** Called once the process is ready (baton: its `ready` step; plain apps: listening). */
function ready() {
  if (build === undefined || !build.endsWith('-dies') || armed) return;
  armed = true;
  setTimeout(() => {
    record('dying', { build });
    process.exit(1);
  }, DIES_AFTER_MS);
}

module.exports = { build, ready, DIES_AFTER_MS };
