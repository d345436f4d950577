import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { logicalCwd, parseEnviron, readProcSelf, scriptAsGiven } from '../src/internal/start-command';

describe('logicalCwd: the directory as the operator named it', () => {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'baton-cwd-')));
  const release1 = path.join(root, 'releases', '1');
  const current = path.join(root, 'current');
  fs.mkdirSync(release1, { recursive: true });
  fs.symlinkSync(release1, current);
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  test('PWD through a symlink that names the kernel cwd: the symlink path', () => {
    expect(logicalCwd({ PWD: current }, release1)).toBe(current);
  });
  test('a stale PWD (the shell was elsewhere, or the symlink moved on): the kernel cwd', () => {
    expect(logicalCwd({ PWD: root }, release1)).toBe(release1);
  });
  test('no PWD, a relative PWD, or one that no longer exists: the kernel cwd', () => {
    expect(logicalCwd({}, release1)).toBe(release1);
    expect(logicalCwd({ PWD: 'current' }, release1)).toBe(release1);
    expect(logicalCwd({ PWD: path.join(root, 'gone') }, release1)).toBe(release1);
  });
});

describe('scriptAsGiven: argv[1] as typed', () => {
  test('node server.js in /srv/app/current (kernel cwd releases/1): server.js', () => {
    expect(
      scriptAsGiven(
        ['node', 'server.js', '--port', '80'],
        [],
        ['/usr/bin/node', '/srv/app/releases/1/server.js', '--port', '80'],
        '/srv/app/releases/1',
      ),
    ).toBe('server.js');
  });
  test('with node flags before the script (a flag and its value are two entries of execArgv)', () => {
    expect(
      scriptAsGiven(
        ['node', '--require', './otel.js', '--enable-source-maps', 'dist/main.js'],
        ['--require', './otel.js', '--enable-source-maps'],
        ['/usr/bin/node', '/a/dist/main.js'],
        '/a',
      ),
    ).toBe('dist/main.js');
  });
  test('anything that does not line up (NODE_OPTIONS, a launcher): undefined, and argv[1] is used', () => {
    expect(scriptAsGiven(['node', 'other.js'], [], ['/usr/bin/node', '/a/server.js'], '/a')).toBeUndefined();
    expect(scriptAsGiven(['node'], [], ['/usr/bin/node', '/a/server.js'], '/a')).toBeUndefined();
  });
});

test('parseEnviron keeps every variable, values with "=" and empty values, and drops Node IPC variables', () => {
  expect(parseEnviron('A=1\0B=x=y\0EMPTY=\0NODE_CHANNEL_FD=5\0NODE_CHANNEL_SERIALIZATION_MODE=json\0\0')).toEqual({
    A: '1',
    B: 'x=y',
    EMPTY: '',
  });
});

test('readProcSelf reads this very process: its command line starts with node, its environment is the one it was started with', () => {
  const self = readProcSelf();
  expect(self?.cmdline[0]).toMatch(/node/);
  process.env.BATON_TEST_ADDED_LATER = '1';
  expect(readProcSelf()?.environ.BATON_TEST_ADDED_LATER).toBeUndefined();
  delete process.env.BATON_TEST_ADDED_LATER;
  expect(readProcSelf('/nonexistent')).toBeUndefined();
});
