#!/usr/bin/env node
// prepublishOnly of every package: only `pnpm publish -r` may publish. pnpm replaces `workspace:` ranges
// with real ones (`workspace:^` becomes `^0.1.0`) in the tarball it builds; `npm publish` (or yarn 1) would
// ship the range as written, and nobody could install the package. So anything but pnpm is refused while
// package.json holds a `workspace:` range.
const fs = require('node:fs');
const path = require('node:path');

const FIELDS = ['dependencies', 'devDependencies', 'peerDependencies', 'optionalDependencies'];

function workspaceRanges(manifest) {
  return FIELDS.flatMap((field) =>
    Object.entries(manifest[field] ?? {})
      .filter(([, range]) => typeof range === 'string' && range.startsWith('workspace:'))
      .map(([name, range]) => `${field}.${name}: ${range}`),
  );
}

const manifestPath = process.env.npm_package_json || path.resolve('package.json');
const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
// Both: npm sets npm_execpath to itself even inside a pnpm script, where npm_config_user_agent is inherited.
const byPnpm =
  (process.env.npm_config_user_agent ?? '').startsWith('pnpm/') &&
  /pnpm/.test(path.basename(process.env.npm_execpath ?? ''));
const ranges = workspaceRanges(manifest);

if (ranges.length > 0 && !byPnpm) {
  console.error(
    [
      `${manifest.name}: refusing to publish: package.json still has workspace: ranges, which only pnpm replaces:`,
      ...ranges.map((line) => `  ${line}`),
      'Publish from the repository root with `pnpm publish -r` (pnpm turns workspace:^ into ^<version>).',
    ].join('\n'),
  );
  process.exit(1);
}
