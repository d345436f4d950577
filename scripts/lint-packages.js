#!/usr/bin/env node
// `pnpm lint:packages` (after `pnpm build`): packs every package under packages/ as `pnpm publish` would
// (workspace: ranges replaced), then checks the tarball with arethetypeswrong (types resolve under node10,
// node16 from CJS and ESM, and bundler, for every entry point) and publint (package.json against the files).
// Also checks that each package ships the root LICENSE. Exits 1 if anything is reported.
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);

/** pnpm itself: the one running this script when there is one, else the pinned one through npx. */
function pnpm(args, options) {
  const execpath = process.env.npm_execpath ?? '';
  if (/pnpm/.test(path.basename(execpath))) {
    return execFileSync(process.execPath, [execpath, ...args], options);
  }
  return execFileSync(
    'npx',
    ['-y', `pnpm@${require(path.join(root, 'package.json')).packageManager.split('@')[1]}`, ...args],
    options,
  );
}

const packages = fs
  .readdirSync(path.join(root, 'packages'))
  .map((name) => path.join(root, 'packages', name))
  .filter((dir) => fs.existsSync(path.join(dir, 'package.json')) && !require(path.join(dir, 'package.json')).private);

// Each package ships a copy of the root LICENSE (npm packs only files inside the package folder).
const license = fs.readFileSync(path.join(root, 'LICENSE'), 'utf8');
const failed = packages
  .filter(
    (dir) =>
      !fs.existsSync(path.join(dir, 'LICENSE')) || fs.readFileSync(path.join(dir, 'LICENSE'), 'utf8') !== license,
  )
  .map((dir) => `${path.relative(root, dir)}/LICENSE differs from ./LICENSE`);

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-lint-packages-'));
try {
  for (const dir of packages) {
    const { name } = require(path.join(dir, 'package.json'));
    const before = new Set(fs.readdirSync(out));
    pnpm(['pack', '--pack-destination', out], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
    const tarball = path.join(
      out,
      fs.readdirSync(out).find((file) => !before.has(file)),
    );
    console.log(`\n=== ${name} (${path.basename(tarball)})`);
    for (const [tool, args] of [
      ['attw', [tarball, '--format', 'table-flipped', '--no-color']],
      ['publint', ['run', tarball, '--strict']],
    ]) {
      const result = spawnSync(bin(tool), args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
      process.stdout.write(result.stdout);
      process.stderr.write(result.stderr);
      // publint exits 0 with suggestions; clean means it found nothing at all.
      const clean = result.status === 0 && !/^(Suggestions|Warnings|Errors):/m.test(result.stdout);
      if (!clean) failed.push(`${name}: ${tool}`);
    }
  }
} finally {
  fs.rmSync(out, { recursive: true, force: true });
}

if (failed.length > 0) {
  console.error(`\nlint:packages failed: ${failed.join(', ')}`);
  process.exit(1);
}
console.log(`\nlint:packages: ${packages.length} packages clean (attw, publint)`);
