import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BatonError } from '../src/errors';
import {
  assertPidFileWritable,
  describeUid,
  processUids,
  readPidFile,
  readTrustedPidFile,
  removePidFileIfOurs,
  writePidFile,
} from '../src/internal/pid-file';

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
    // The temp name is unpredictable (issue 11): not `.app.pid.<pid>.tmp`, which another user could plant a symlink at.
    expect([...seen].sort()).toEqual([expect.stringMatching(/^\.app\.pid\.[0-9a-f]{24}\.tmp$/), 'app.pid']);
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

// ---- issue 11: another local user must not be able to steer the pid file ---------------------------
// (The same attacks made by a real second user, against real processes: test/security.test.ts.)

const me = { uid: process.geteuid?.() ?? 0, gid: process.getegid?.() ?? 0 };
const asRoot = me.uid === 0;
/** A uid that is neither ours nor root's. */
const OTHER = 54321;

/**
 * Makes `file` someone else's as far as the check is concerned: as root by chown to OTHER; otherwise
 * (chown is root's) by checking on behalf of OTHER, to whom our files belong to someone else.
 * Returns the ids to check with and the owner the message should name.
 */
function someoneElses(file: string): { ids: { uid: number; gid: number }; owner: number } {
  if (asRoot) {
    fs.lchownSync(file, OTHER, OTHER);
    return { ids: me, owner: OTHER };
  }
  return { ids: { uid: OTHER, gid: OTHER }, owner: me.uid };
}

describe('writePidFile never writes through a name another user could have prepared', () => {
  test('each write uses a fresh unpredictable temp name, not `.<name>.<pid>.tmp`', async () => {
    const file = path.join(dir, 'app.pid');
    const seen = new Set<string>();
    const watcher = fs.watch(dir, (_event, name) => {
      if (name && String(name) !== 'app.pid') seen.add(String(name));
    });
    try {
      writePidFile(file, 4242);
      writePidFile(file, 4242);
      const deadline = Date.now() + 5000;
      while (seen.size < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    } finally {
      watcher.close();
    }
    expect(seen.size).toBe(2);
    for (const name of seen) expect(name).toMatch(/^\.app\.pid\.[0-9a-f]{24}\.tmp$/);
    expect(seen.has('.app.pid.4242.tmp')).toBe(false);
  });

  test('a symlink at the old predictable temp name has no effect: its target is untouched', () => {
    const victim = path.join(dir, 'victim.txt');
    fs.writeFileSync(victim, 'precious\n');
    const file = path.join(dir, 'app.pid');
    fs.symlinkSync(victim, path.join(dir, `.app.pid.${process.pid}.tmp`));
    writePidFile(file, process.pid);
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(fs.readFileSync(file, 'utf8')).toBe(`${process.pid}\n`);
    expect(fs.lstatSync(file).isFile()).toBe(true);
  });

  test('a guessed temp name (symlink or file already there) is never opened: another name is tried', () => {
    const victim = path.join(dir, 'victim.txt');
    fs.writeFileSync(victim, 'precious\n');
    const guessed = Buffer.alloc(12, 0xab);
    const name = (bytes: Buffer): string => path.join(dir, `.app.pid.${bytes.toString('hex')}.tmp`);
    fs.symlinkSync(victim, name(guessed));
    const spy = jest.spyOn(crypto, 'randomBytes').mockImplementationOnce(() => guessed);
    try {
      writePidFile(path.join(dir, 'app.pid'), 77);
    } finally {
      spy.mockRestore();
    }
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(fs.readlinkSync(name(guessed))).toBe(victim);
    expect(fs.readFileSync(path.join(dir, 'app.pid'), 'utf8')).toBe('77\n');
  });

  test('the pid file is a regular file of ours with mode 0644 (under the usual umask 022)', () => {
    const previous = process.umask(0o022);
    try {
      writePidFile(path.join(dir, 'app.pid'), 5);
    } finally {
      process.umask(previous);
    }
    const stat = fs.lstatSync(path.join(dir, 'app.pid'));
    expect(stat.isFile()).toBe(true);
    expect(stat.mode & 0o777).toBe(0o644);
    expect(stat.uid).toBe(me.uid);
  });
});

describe('assertPidFileWritable refuses a directory another user could replace the pid file in', () => {
  test('writable by every user and not sticky: ERR_BATON_PID_FILE saying so', () => {
    fs.chmodSync(dir, 0o777);
    const error = thrown(() => assertPidFileWritable(path.join(dir, 'app.pid')));
    expect(error.code).toBe('ERR_BATON_PID_FILE');
    expect(error.message).toContain(`directory ${dir} is writable by every user (mode 0777) and not sticky`);
    expect(error.message).toContain('/run/app');
  });

  test('sticky and world-writable (like /tmp): accepted while there is no pid file or it is ours', () => {
    fs.chmodSync(dir, 0o1777);
    const file = path.join(dir, 'app.pid');
    expect(() => assertPidFileWritable(file)).not.toThrow();
    writePidFile(file, 1);
    expect(() => assertPidFileWritable(file)).not.toThrow();
  });

  test('sticky and world-writable, with a pid file someone else owns: refused, naming the owner', () => {
    fs.chmodSync(dir, 0o1777);
    const file = path.join(dir, 'app.pid');
    fs.writeFileSync(file, '1\n', { mode: 0o666 });
    const { ids, owner } = someoneElses(file);
    const error = thrown(() => assertPidFileWritable(file, ids));
    expect(error.code).toBe('ERR_BATON_PID_FILE');
    expect(error.message).toContain(`pid file ${file} belongs to ${describeUid(owner)}`);
    expect(error.message).toContain('someone else may have planted it');
  });

  test('sticky and world-writable, with a symlink someone else planted at the pid file: refused', () => {
    fs.chmodSync(dir, 0o1777);
    const file = path.join(dir, 'app.pid');
    fs.symlinkSync('/etc/passwd', file);
    const { ids, owner } = someoneElses(file);
    const error = thrown(() => assertPidFileWritable(file, ids));
    expect(error.code).toBe('ERR_BATON_PID_FILE');
    expect(error.message).toContain(describeUid(owner));
  });

  test('group-writable: refused for a group other than ours, accepted for our own', () => {
    fs.chmodSync(dir, 0o770);
    const file = path.join(dir, 'app.pid');
    const stat = fs.statSync(dir);
    expect(() => assertPidFileWritable(file, { uid: me.uid, gid: stat.gid })).not.toThrow();
    const error = thrown(() => assertPidFileWritable(file, { uid: me.uid, gid: stat.gid + 1 }));
    expect(error.code).toBe('ERR_BATON_PID_FILE');
    expect(error.message).toContain(`is writable by group ${stat.gid} (mode 0770) and not sticky`);
  });

  test('a directory that belongs to another user (who can chmod it at will): refused, naming them', () => {
    const sub = path.join(dir, 'theirs');
    fs.mkdirSync(sub, 0o755);
    const { ids, owner } = someoneElses(sub);
    const error = thrown(() => assertPidFileWritable(path.join(sub, 'app.pid'), ids));
    expect(error.code).toBe('ERR_BATON_PID_FILE');
    expect(error.message).toContain(`directory ${sub} belongs to ${describeUid(owner)}`);
  });
});

describe('readTrustedPidFile: what `baton reload` / `baton status` act on', () => {
  test('our own pid file naming our own process: the pid', () => {
    const file = path.join(dir, 'app.pid');
    writePidFile(file, process.pid);
    expect(readTrustedPidFile(file)).toBe(process.pid);
  });

  test('missing or garbage: undefined, as readPidFile', () => {
    const file = path.join(dir, 'app.pid');
    expect(readTrustedPidFile(file)).toBeUndefined();
    fs.writeFileSync(file, 'garbage');
    expect(readTrustedPidFile(file)).toBeUndefined();
  });

  test('a pid file another user owns: refused, naming the owner', () => {
    const file = path.join(dir, 'app.pid');
    fs.writeFileSync(file, `${process.pid}\n`);
    const { ids, owner } = someoneElses(file);
    const error = thrown(() => readTrustedPidFile(file, ids));
    expect(error.code).toBe('ERR_BATON_PID_FILE');
    expect(error.message).toContain(`pid file ${file} belongs to ${describeUid(owner)}`);
  });

  test('a symlink another user owns at the pid file: refused, even to a file of ours', () => {
    const real = path.join(dir, 'real.pid');
    writePidFile(real, process.pid);
    const file = path.join(dir, 'app.pid');
    fs.symlinkSync(real, file);
    if (asRoot) {
      fs.lchownSync(file, OTHER, OTHER);
      const error = thrown(() => readTrustedPidFile(file));
      expect(error.message).toContain(`is a symlink that belongs to ${describeUid(OTHER)}`);
    } else {
      // Ours: followed.
      expect(readTrustedPidFile(file)).toBe(process.pid);
    }
  });

  test('a pid file in a directory anyone can write to (not sticky): refused', () => {
    const file = path.join(dir, 'app.pid');
    writePidFile(file, process.pid);
    fs.chmodSync(dir, 0o777);
    const error = thrown(() => readTrustedPidFile(file));
    expect(error.code).toBe('ERR_BATON_PID_FILE');
    expect(error.message).toContain('writable by every user (mode 0777) and not sticky');
  });

  test("a pid whose process runs as another user than the file's owner: refused (planted, or a reused pid)", () => {
    const file = path.join(dir, 'app.pid');
    writePidFile(file, 31337);
    const proc = path.join(dir, 'proc');
    fs.mkdirSync(path.join(proc, '31337'), { recursive: true });
    fs.writeFileSync(path.join(proc, '31337', 'status'), `Name:\tnode\nUid:\t${OTHER}\t${OTHER}\t${OTHER}\t${OTHER}\n`);
    const error = thrown(() => readTrustedPidFile(file, me, proc));
    expect(error.code).toBe('ERR_BATON_PID_FILE');
    expect(error.message).toContain(`names pid 31337, which runs as ${describeUid(OTHER)}`);
    // The same process running as the file's owner is fine.
    fs.writeFileSync(
      path.join(proc, '31337', 'status'),
      `Name:\tnode\nUid:\t${me.uid}\t${me.uid}\t${me.uid}\t${me.uid}\n`,
    );
    expect(readTrustedPidFile(file, me, proc)).toBe(31337);
  });

  (process.platform === 'linux' ? test : test.skip)(
    'a FIFO at the pid file is refused at once, without blocking',
    () => {
      const file = path.join(dir, 'app.pid');
      execFileSync('mkfifo', [file]);
      const error = thrown(() => readTrustedPidFile(file));
      expect(error.message).toContain('is not a regular file');
    },
  );

  (process.platform === 'linux' ? test : test.skip)('processUids reads the real and effective uid from /proc', () => {
    expect(processUids(process.pid)).toEqual({ real: process.getuid?.(), effective: me.uid });
    expect(processUids(2 ** 22 + 1)).toBeUndefined();
  });
});

describe('describeUid', () => {
  test('the name from the passwd file, or the number alone', () => {
    const passwd = path.join(dir, 'passwd');
    fs.writeFileSync(passwd, 'root:x:0:0:root:/root:/bin/bash\nmallory:x:1001:1001::/home/mallory:/bin/sh\n');
    expect(describeUid(1001, passwd)).toBe('uid 1001 (mallory)');
    expect(describeUid(0, passwd)).toBe('uid 0 (root)');
    expect(describeUid(4242, passwd)).toBe('uid 4242');
    expect(describeUid(1001, path.join(dir, 'missing'))).toBe('uid 1001');
  });
});
