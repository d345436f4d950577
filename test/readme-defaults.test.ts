import fs from 'node:fs';
import path from 'node:path';
import { DEFAULTS, ENV_VARIABLES } from '@baton/core';
import { ROOT } from './helpers/processes';

// http-terminator's docs said 5000 while its code said 1000. Here the README's options table is
// checked against the one constant the code reads.
const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const rows = new Map(
  [...readme.matchAll(/^\| `(\w+)` \| (?:`(BATON_\w+)`)? *\| ([^|]+) \|/gm)].map((m) => [
    m[1] as string,
    { env: m[2], shown: (m[3] as string).trim() },
  ]),
);

test.each(Object.entries(DEFAULTS))('README documents the default of %s as the code has it', (option, value) => {
  const row = rows.get(option);
  expect(row).toBeDefined();
  const expected = value === undefined ? 'none' : String(value);
  expect(row?.shown).toBe(expected);
});

test.each(Object.entries(ENV_VARIABLES))('README names %s as the variable for %s', (variable, option) => {
  expect(rows.get(option)?.env).toBe(variable);
});
