import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import {
  BatonError,
  BATON_ERROR_CODES,
  errorFromWire,
  errorToWire,
  isBatonError,
  type BatonErrorCode,
} from '../src/errors';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const CODES = Object.keys(BATON_ERROR_CODES) as BatonErrorCode[];
const CODE_PATTERN = /ERR_BATON_[A-Z_]+/g;

function read(file: string): string {
  return fs.readFileSync(file, 'utf8');
}

function filesUnder(dir: string, suffix: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith(suffix))
    .map((f) => path.join(dir, f));
}

/** The rows of the README's error table: the code in the first cell of each row under `### Errors`. */
function readmeErrorTable(): Map<string, string> {
  const readme = read(path.join(ROOT, 'README.md'));
  const start = readme.indexOf('\n### Errors\n');
  expect(start).toBeGreaterThanOrEqual(0);
  const next = readme.slice(start + 1).search(/\n#{2,3} /);
  const section = next < 0 ? readme.slice(start) : readme.slice(start, start + 1 + next);
  return new Map(
    [...section.matchAll(/^\| `(ERR_BATON_[A-Z_]+)` \| (.+) \|$/gm)].map((m) => [m[1] as string, m[2] as string]),
  );
}

describe('the closed table of error codes', () => {
  const table = readmeErrorTable();

  test.each(CODES)('README documents %s in its error table, with what it means and when', (code) => {
    const row = table.get(code);
    expect(row).toBeDefined();
    // Two non-empty cells: what it means | when.
    expect(row?.split(' | ').filter((cell) => cell.trim() !== '')).toHaveLength(2);
  });

  test('the README error table has no code the table in errors.ts lacks', () => {
    expect([...table.keys()].filter((code) => !(CODES as string[]).includes(code))).toEqual([]);
  });

  test('README.md and the docs name no code outside the table', () => {
    const docs = [
      path.join(ROOT, 'README.md'),
      ...filesUnder(path.join(ROOT, 'docs'), '.md'),
      ...fs
        .readdirSync(path.join(ROOT, 'packages'))
        .map((p) => path.join(ROOT, 'packages', p, 'README.md'))
        .filter((f) => fs.existsSync(f)),
    ];
    const strays = docs.flatMap((file) =>
      [...read(file).matchAll(CODE_PATTERN)]
        .filter((m) => !(CODES as string[]).includes(m[0]))
        .map((m) => `${path.relative(ROOT, file)}: ${m[0]}`),
    );
    expect(strays).toEqual([]);
  });

  test('the source names no code outside the table', () => {
    const src = path.join(ROOT, 'packages', 'core', 'src');
    const strays = filesUnder(src, '.ts').flatMap((file) =>
      [...read(file).matchAll(CODE_PATTERN)]
        .filter((m) => !(CODES as string[]).includes(m[0]))
        .map((m) => `${path.relative(ROOT, file)}: ${m[0]}`),
    );
    expect(strays).toEqual([]);
  });
});

describe('isBatonError', () => {
  test('recognises a BatonError, and its code when asked', () => {
    const error = new BatonError('ERR_BATON_READY_TIMEOUT', 'next generation pid 7 not ready after 10 ms; killed it', {
      pid: 7,
      timeoutMs: 10,
    });
    expect(isBatonError(error)).toBe(true);
    expect(isBatonError(error, 'ERR_BATON_READY_TIMEOUT')).toBe(true);
    expect(isBatonError(error, 'ERR_BATON_CHILD_EXITED')).toBe(false);
  });

  test.each([
    ['null', null],
    ['a string', 'ERR_BATON_RETIRING'],
    ['a plain Error', new Error('boom')],
    ['an Error with a baton code but no brand', Object.assign(new Error('x'), { code: 'ERR_BATON_RETIRING' })],
    ['a plain object with a baton code', { code: 'ERR_BATON_RETIRING', message: 'x' }],
    ['an object without a prototype', Object.create(null)],
  ])('refuses %s', (_what, value) => {
    expect(isBatonError(value)).toBe(false);
    expect(value instanceof BatonError).toBe(false);
  });

  test('refuses a branded error whose code this version does not know (a newer copy)', () => {
    const newer = new BatonError('ERR_BATON_RETIRING', 'x');
    Object.defineProperty(newer, 'code', { value: 'ERR_BATON_FROM_THE_FUTURE' });
    expect(isBatonError(newer)).toBe(false);
  });

  test('the brand sits on the prototype: it stays out of JSON and own keys', () => {
    const error = new BatonError('ERR_BATON_RETIRING', 'x');
    expect(Object.getOwnPropertySymbols(error)).toEqual([]);
    expect(JSON.stringify(error)).not.toContain('baton.error');
    expect((error as unknown as Record<symbol, unknown>)[Symbol.for('baton.error')]).toBe(true);
  });

  test('recognises an error from a second copy of errors.ts loaded in isolation', () => {
    let second!: typeof import('../src/errors');
    jest.isolateModules(() => {
      second = jest.requireActual<typeof import('../src/errors')>('../src/errors');
    });
    expect(second.BatonError).not.toBe(BatonError);
    const theirs = new second.BatonError(
      'ERR_BATON_CHILD_EXITED',
      'worker pid 9 exited with code 1 before it was ready',
      { pid: 9, exitCode: 1 },
    );
    expect(isBatonError(theirs)).toBe(true);
    expect(isBatonError(theirs, 'ERR_BATON_CHILD_EXITED')).toBe(true);
    expect(theirs instanceof BatonError).toBe(true);
    expect(errorToWire(theirs)).toEqual({
      code: 'ERR_BATON_CHILD_EXITED',
      message: 'worker pid 9 exited with code 1 before it was ready',
      pid: 9,
      exitCode: 1,
    });
    // And the other way round.
    expect(second.isBatonError(new BatonError('ERR_BATON_RETIRING', 'x'))).toBe(true);
  });

  test('recognises an error from a copy of the built errors.js installed elsewhere (run `pnpm build` first)', () => {
    const built = path.join(ROOT, 'packages', 'core', 'dist', 'errors.js');
    expect(fs.existsSync(built)).toBe(true);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-errors-copy-'));
    try {
      const copy = path.join(dir, 'node_modules', '@baton', 'core', 'dist', 'errors.js');
      fs.mkdirSync(path.dirname(copy), { recursive: true });
      fs.copyFileSync(built, copy);
      // Node's own loader, outside jest's module registry: as a second installed copy would be loaded.
      const other = createRequire(__filename)(copy) as typeof import('../src/errors');
      expect(other.BatonError).not.toBe(BatonError);
      const theirs = new other.BatonError(
        'ERR_BATON_SPAWN_FAILED',
        'cannot start next generation (node): spawn node ENOENT',
      );
      expect(isBatonError(theirs, 'ERR_BATON_SPAWN_FAILED')).toBe(true);
      expect(theirs instanceof BatonError).toBe(true);
      expect(other.isBatonError(new BatonError('ERR_BATON_SPAWN_FAILED', 'x'))).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('errorToWire / errorFromWire', () => {
  test.each(CODES)('%s survives the round trip through JSON', (code) => {
    const error = new BatonError(code, `something about ${code}`);
    const wire = JSON.parse(JSON.stringify(errorToWire(error))) as unknown;
    expect(wire).toEqual({ code, message: `something about ${code}` });
    const decoded = errorFromWire(wire as { code: string; message: string });
    expect(isBatonError(decoded, code)).toBe(true);
    expect(decoded.message).toBe(error.message);
    expect(errorToWire(decoded)).toEqual(wire);
  });

  test('details travel too: pid, exit code, signal and timeout', () => {
    const error = new BatonError('ERR_BATON_CHILD_EXITED', 'worker pid 12 was killed by SIGKILL before it was ready', {
      pid: 12,
      exitCode: null,
      signal: 'SIGKILL',
    });
    const decoded = errorFromWire(JSON.parse(JSON.stringify(errorToWire(error))) as { code: string; message: string });
    expect(decoded).toMatchObject({ code: 'ERR_BATON_CHILD_EXITED', pid: 12, exitCode: null, signal: 'SIGKILL' });
    const timeout = errorFromWire(
      errorToWire(new BatonError('ERR_BATON_READY_TIMEOUT', 'slow', { pid: 3, timeoutMs: 500 })),
    );
    expect(timeout).toMatchObject({ pid: 3, timeoutMs: 500 });
  });

  test('a code unknown to this version becomes ERR_BATON_UNKNOWN, keeping the original code, and stays that way', () => {
    const decoded = errorFromWire({ code: 'ERR_BATON_FROM_THE_FUTURE', message: 'the reload was vetoed' });
    expect(decoded.code).toBe('ERR_BATON_UNKNOWN');
    expect(decoded.code).not.toBe('ERR_BATON_CHILD_EXITED');
    expect(decoded.message).toContain('the reload was vetoed');
    expect(decoded.message).toContain('ERR_BATON_FROM_THE_FUTURE');
    const wire = errorToWire(decoded);
    expect(wire).toEqual({ code: 'ERR_BATON_UNKNOWN', message: decoded.message });
    // Decoding again does not pile up notes.
    expect(errorToWire(errorFromWire(wire))).toEqual(wire);
  });

  test("an error that is not baton's goes out as ERR_BATON_UNKNOWN, keeping its own code", () => {
    const errno = Object.assign(new Error('permission denied, open /run/app.pid'), { code: 'EACCES' });
    expect(errorToWire(errno)).toEqual({
      code: 'ERR_BATON_UNKNOWN',
      message: 'permission denied, open /run/app.pid (code EACCES)',
    });
    const named = Object.assign(new Error('EPIPE: broken pipe, write'), { code: 'EPIPE' });
    expect(errorToWire(named)).toEqual({ code: 'ERR_BATON_UNKNOWN', message: 'EPIPE: broken pipe, write' });
    expect(errorToWire('plain text')).toEqual({ code: 'ERR_BATON_UNKNOWN', message: 'plain text' });
    expect(errorToWire(undefined).code).toBe('ERR_BATON_UNKNOWN');
    expect(errorToWire(Object.create(null)).code).toBe('ERR_BATON_UNKNOWN');
  });

  test.each([
    ['null', null],
    ['an empty object', {}],
    ['a code that is not a string', { code: 42, message: 'x' }],
    ['a message that is not a string', { code: 'ERR_BATON_RETIRING', message: { text: 'x' } }],
    [
      'details of the wrong type',
      {
        code: 'ERR_BATON_CHILD_EXITED',
        message: 'x',
        pid: 'seven',
        exitCode: '1',
        signal: 'rm -rf',
        timeoutMs: 'soon',
      },
    ],
  ])('a malformed wire error (%s) still decodes to a BatonError with a known code', (_what, wire) => {
    const decoded = errorFromWire(wire as { code?: unknown; message?: unknown });
    expect(isBatonError(decoded)).toBe(true);
    expect(typeof decoded.message).toBe('string');
    expect(decoded.pid).toBeUndefined();
    expect(decoded.exitCode).toBeUndefined();
    expect(decoded.signal).toBeUndefined();
    expect(decoded.timeoutMs).toBeUndefined();
  });
});
