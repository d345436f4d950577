import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BatonError } from '../src/errors';
import { assertPidFileWritable, readPidFile, removePidFileIfOurs, writePidFile } from '../src/internal/pid-file';

let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-pid-'));
});

afterEach(() => {
  fs.chmodSync(dir, 0o755);
  fs.rmSync(dir, { recursive: true, force: true });
});

function thrown(fn: () => unknown): BatonError {
  try {
    fn();
  } catch (error) {
    return error as BatonError;
  }
  throw new Error('expected an error, nothing was thrown');
}

describe('writePidFile', () => {
  test('writes the pid and a newline, and leaves no temp file behind', () => {
    const file = path.join(dir, 'app.pid');
    writePidFile(file, 4312);
    expect(fs.readFileSync(file, 'utf8')).toBe('4312\n');
    expect(fs.readdirSync(dir)).toEqual(['app.pid']);
  });

  test('replaces an existing file by rename: a reader holding the old file still sees the old pid', () => {
    const file = path.join(dir, 'app.pid');
    writePidFile(file, 111);
    const before = fs.statSync(file).ino;
    const oldFd = fs.openSync(file, 'r');
    try {
      writePidFile(file, 222);
      // Written in place, the open file would now read 222 (or be empty for a moment).
      expect(fs.readFileSync(oldFd, 'utf8')).toBe('111\n');
    } finally {
      fs.closeSync(oldFd);
    }
    expect(fs.statSync(file).ino).not.toBe(before);
    expect(fs.readFileSync(file, 'utf8')).toBe('222\n');
    expect(fs.readdirSync(dir)).toEqual(['app.pid']);
  });

  test('the temp file is in the same directory as the pid file (rename is atomic only within one file system)', async () => {
    const file = path.join(dir, 'app.pid');
    const seen = new Set<string>();
    const watcher = fs.watch(dir, (_event, name) => {
      if (name) seen.add(String(name));
    });
    try {
      writePidFile(file, 5150);
      // inotify events arrive asynchronously: wait (bounded) for both names.
      const deadline = Date.now() + 5000;
      while (!(seen.has('app.pid') && [...seen].some((n) => n !== 'app.pid')) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    } finally {
      watcher.close();
    }
    expect([...seen].sort()).toEqual(['.app.pid.5150.tmp', 'app.pid']);
    expect(fs.readdirSync(dir)).toEqual(['app.pid']);
  });

  test('a relative path is written relative to the current directory', () => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      writePidFile('rel.pid', 77);
    } finally {
      process.chdir(cwd);
    }
    expect(fs.readFileSync(path.join(dir, 'rel.pid'), 'utf8')).toBe('77\n');
    expect(fs.readdirSync(dir)).toEqual(['rel.pid']);
  });

  test('failure throws ERR_BATON_PID_FILE naming the file, and removes its temp file', () => {
    // The target is a directory: the temp file can be written, the rename cannot.
    const file = path.join(dir, 'taken');
    fs.mkdirSync(file);
    fs.writeFileSync(path.join(file, 'keep'), 'x');
    const error = thrown(() => writePidFile(file, 999));
    expect(error).toBeInstanceOf(BatonError);
    expect(error.code).toBe('ERR_BATON_PID_FILE');
    expect(error.message).toContain(file);
    expect(error.message).toContain('999');
    expect(fs.readdirSync(dir)).toEqual(['taken']);
  });

  test('a missing directory throws ERR_BATON_PID_FILE', () => {
    const file = path.join(dir, 'missing', 'app.pid');
    const error = thrown(() => writePidFile(file, 1234));
    expect(error.code).toBe('ERR_BATON_PID_FILE');
    expect(error.message).toContain(file);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe('readPidFile', () => {
  test('reads what writePidFile wrote', () => {
    const file = path.join(dir, 'a.pid');
    writePidFile(file, 31337);
    expect(readPidFile(file)).toBe(31337);
  });

  test('tolerates surrounding whitespace', () => {
    const file = path.join(dir, 'a.pid');
    fs.writeFileSync(file, '  42 \n\n');
    expect(readPidFile(file)).toBe(42);
  });

  test('missing, empty or garbage: undefined', () => {
    const file = path.join(dir, 'a.pid');
    expect(readPidFile(file)).toBeUndefined();
    for (const text of ['', 'abc', '12 34', '-5', '1.5', '0x10']) {
      fs.writeFileSync(file, text);
      expect(readPidFile(file)).toBeUndefined();
    }
  });
});

describe('removePidFileIfOurs', () => {
  test('removes a file that names us', () => {
    const file = path.join(dir, 'a.pid');
    writePidFile(file, 100);
    expect(removePidFileIfOurs(file, 100)).toBe(true);
    expect(fs.existsSync(file)).toBe(false);
  });

  test('leaves a file that names someone else (a successor owns it now)', () => {
    const file = path.join(dir, 'a.pid');
    writePidFile(file, 200);
    expect(removePidFileIfOurs(file, 100)).toBe(false);
    expect(fs.readFileSync(file, 'utf8')).toBe('200\n');
  });

  test('leaves a file it cannot read as a pid', () => {
    const file = path.join(dir, 'a.pid');
    fs.writeFileSync(file, 'not a pid');
    expect(removePidFileIfOurs(file, 100)).toBe(false);
    expect(fs.readFileSync(file, 'utf8')).toBe('not a pid');
  });

  test('a missing file: false, no error', () => {
    expect(removePidFileIfOurs(path.join(dir, 'nope.pid'), 100)).toBe(false);
  });
});

describe('assertPidFileWritable', () => {
  test('passes for a new file in an existing directory, and writes nothing', () => {
    assertPidFileWritable(path.join(dir, 'app.pid'));
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  test('passes for an existing pid file', () => {
    const file = path.join(dir, 'app.pid');
    writePidFile(file, 1);
    expect(() => assertPidFileWritable(file)).not.toThrow();
  });

  test('a missing directory throws ERR_BATON_PID_FILE naming the path', () => {
    const file = path.join(dir, 'no', 'such', 'dir', 'app.pid');
    const error = thrown(() => assertPidFileWritable(file));
    expect(error).toBeInstanceOf(BatonError);
    expect(error.code).toBe('ERR_BATON_PID_FILE');
    expect(error.message).toContain(file);
    expect(error.message).toContain(path.join(dir, 'no', 'such', 'dir'));
  });

  test('a relative path is checked against the current directory', () => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      expect(() => assertPidFileWritable('ok.pid')).not.toThrow();
      const error = thrown(() => assertPidFileWritable('missing/app.pid'));
      expect(error.code).toBe('ERR_BATON_PID_FILE');
      expect(error.message).toContain('missing/app.pid');
    } finally {
      process.chdir(cwd);
    }
  });

  test('a path that is a directory throws ERR_BATON_PID_FILE naming it', () => {
    const file = path.join(dir, 'sub');
    fs.mkdirSync(file);
    const error = thrown(() => assertPidFileWritable(file));
    expect(error).toBeInstanceOf(BatonError);
    expect(error.code).toBe('ERR_BATON_PID_FILE');
    expect(error.message).toContain(file);
    expect(error.message).toContain('directory');
  });

  test('a parent that is a regular file throws ERR_BATON_PID_FILE', () => {
    const parent = path.join(dir, 'file');
    fs.writeFileSync(parent, '');
    const error = thrown(() => assertPidFileWritable(path.join(parent, 'app.pid')));
    expect(error.code).toBe('ERR_BATON_PID_FILE');
    expect(error.message).toContain(path.join(parent, 'app.pid'));
  });

  // root may write anywhere, so a read-only directory only fails for other users.
  const asRoot = process.getuid?.() === 0;
  (asRoot ? test.skip : test)('a read-only directory throws ERR_BATON_PID_FILE', () => {
    const ro = path.join(dir, 'ro');
    fs.mkdirSync(ro, 0o555);
    const error = thrown(() => assertPidFileWritable(path.join(ro, 'app.pid')));
    expect(error.code).toBe('ERR_BATON_PID_FILE');
    expect(error.message).toContain(ro);
  });
});
