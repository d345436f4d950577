// Issue 11: what a second, unprivileged local user can try against a service baton runs, made for
// real: a user created for the test (useradd, removed again in teardown), its processes started with
// setpriv/runuser, every process killed by pid. Each attack must fail: the victim file untouched,
// the spoofed socket refused, the oversized or slow control requests cut without effect, the forged
// handoff refused with ERR_BATON_BAD_HANDOFF. docs/security.md names these tests for each defence.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { request } from './helpers/http';
import {
  FIXTURES,
  isAlive,
  killAll,
  readPid,
  rememberPid,
  ROOT,
  startServer,
  tempDir,
  waitFor,
  waitForPidFileChange,
  waitForPort,
  type Server,
} from './helpers/processes';
import { DEPLOYED_ENV, sleep } from './helpers/service';
import { APP, baton } from './helpers/supervisor';

const has = (tool: string): boolean => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
const canCreateUsers =
  process.platform === 'linux' && process.getuid?.() === 0 && ['useradd', 'userdel', 'runuser', 'setpriv'].every(has);

/** The second local user: created in beforeAll, removed in afterAll. */
interface User {
  name: string;
  uid: number;
  gid: number;
}
let mallory: User;
const dirs: string[] = [];

/** A temp dir with `mode` (the attacker needs to reach into some of them). */
function dir(mode: number): string {
  const made = tempDir('baton-sec-');
  fs.chmodSync(made, mode);
  dirs.push(made);
  return made;
}

/**
 * A copy of a self-contained fixture (node built-ins only) where the second user can read it: the
 * checkout itself may sit in a directory other users cannot enter (a fresh CI clone under mktemp).
 */
function readableFixture(name: string): string {
  const place = dir(0o755);
  const file = path.join(place, name);
  fs.copyFileSync(path.join(FIXTURES, name), file);
  fs.chmodSync(file, 0o644);
  return file;
}

/** Runs a short command as the second user, to completion. */
function asMallory(file: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('runuser', ['-u', mallory.name, '--', file, ...args], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * Starts a long-running process as the second user. setpriv execs it, so the pid we get is the
 * process's own, and it is killed by that pid in teardown.
 */
function spawnAsMallory(
  file: string,
  args: string[],
  stdio: Array<'ignore' | 'pipe' | 'ipc' | number> = ['ignore', 'pipe', 'pipe'],
  env: NodeJS.ProcessEnv = {},
): ChildProcess & { output: () => string } {
  const child = spawn(
    'setpriv',
    [`--reuid=${mallory.uid}`, `--regid=${mallory.gid}`, '--clear-groups', '--', file, ...args],
    {
      stdio,
      env: { PATH: process.env.PATH, ...DEPLOYED_ENV, ...env },
    },
  );
  rememberPid(child.pid);
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return Object.assign(child, { output: () => text });
}

/** Starts the app as this user with a forged environment (and nothing else of ours). */
function spawnForged(
  file: string,
  args: string[],
  stdio: Array<'ignore' | 'pipe' | 'ipc' | number>,
  env: NodeJS.ProcessEnv,
): ChildProcess & { output: () => string } {
  const child = spawn(file, args, { stdio, env: { PATH: process.env.PATH, ...DEPLOYED_ENV, ...env } });
  rememberPid(child.pid);
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return Object.assign(child, { output: () => text });
}

/** A plain in-place service of root's (the victim): the fixture app with a pid file and, maybe, a control socket. */
async function victimService(env: Record<string, string>): Promise<Server & { port: number }> {
  const server = startServer(APP, { ...DEPLOYED_ENV, ...env });
  const port = await waitForPort(server);
  if (env.BATON_PID_FILE) await waitFor('the pid file', () => readPid(env.BATON_PID_FILE as string) === server.pid);
  return { ...server, port };
}

/** The exit code, or 'still running' when the process has not exited within `ms` (it accepted what it should refuse). */
function exitCodeWithin(
  exited: Promise<{ code: number | null }> | Promise<number | null>,
  ms = 15_000,
): Promise<number | null | 'still running'> {
  const code = (exited as Promise<{ code: number | null } | number | null>).then((e) =>
    e !== null && typeof e === 'object' ? e.code : e,
  );
  return Promise.race([
    code,
    new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), ms).unref()),
  ]);
}

/** Pids the kernel is likely to hand out next (from the last one it gave, wrapping like it does). */
function nextPids(count: number): number[] {
  const last = Number(fs.readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8'));
  const max = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  return Array.from({ length: count }, (_, i) => {
    const pid = last + 1 + i;
    return pid > max ? pid - max + 300 : pid;
  });
}

/** Tests that need the second user; where it cannot be created they are skipped, and the reason is a test of its own. */
const describeAsMallory = canCreateUsers ? describe : describe.skip;
const testAsMallory = canCreateUsers ? test : test.skip;
if (!canCreateUsers)
  test.skip('as a second local user: skipped, creating one needs root (useradd, runuser, setpriv) on Linux', () =>
    undefined);

beforeAll(() => {
  if (!canCreateUsers) return;
  const name = `baton-sec-${randomBytes(3).toString('hex')}`;
  const made = spawnSync(
    'useradd',
    ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', name],
    { encoding: 'utf8' },
  );
  if (made.status !== 0) throw new Error(`useradd ${name}: ${made.stderr}`);
  const id = (flag: string): number => Number(spawnSync('id', [flag, name], { encoding: 'utf8' }).stdout.trim());
  mallory = { name, uid: id('-u'), gid: id('-g') };
});

afterEach(killAll);

afterAll(() => {
  killAll();
  for (const made of dirs) fs.rmSync(made, { recursive: true, force: true });
  if (mallory) {
    // Any process of that user left would keep userdel from removing it: kill them by pid first.
    const left = spawnSync('pgrep', ['-u', String(mallory.uid)], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter(Boolean)
      .map(Number);
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone.
      }
    }
    spawnSync('userdel', [mallory.name], { stdio: 'ignore' });
  }
});

describeAsMallory('the pid file, in a directory the second user can write to', () => {
  test('symlinks planted at the old predictable temp name (.<name>.<pid>.tmp) for every likely pid: the reload leaves the victim file untouched', async () => {
    const shared = dir(0o1777); // like /tmp, with fs.protected_symlinks off
    const secret = dir(0o700); // root's; the second user cannot even look inside
    const victim = path.join(secret, 'victim.conf');
    fs.writeFileSync(victim, 'root only\n', { mode: 0o600 });
    const pidFile = path.join(shared, 'app.pid');
    const service = await victimService({ BATON_PID_FILE: pidFile });

    const candidates = [service.pid, ...nextPids(3000)];
    const planted = asMallory(process.execPath, [
      readableFixture('security-plant.js'),
      shared,
      'app.pid',
      victim,
      ...candidates.map(String),
    ]);
    expect(planted.stdout).toMatch(/planted \d{3,}/);

    process.kill(service.pid, 'SIGHUP'); // the README's kill -HUP "$(cat app.pid)"
    const next = await waitForPidFileChange(pidFile, service.pid);

    expect(fs.readFileSync(victim, 'utf8')).toBe('root only\n');
    const stat = fs.lstatSync(pidFile);
    expect(stat.isFile()).toBe(true);
    expect(stat.uid).toBe(0);
    expect(fs.readFileSync(pidFile, 'utf8')).toBe(`${next}\n`);
    // The link at the name an older baton would have written through is still there, unused.
    const oldName = path.join(shared, `.app.pid.${next}.tmp`);
    if (candidates.includes(next)) expect(fs.realpathSync(oldName)).toBe(victim);
    // Nothing of ours is left behind: every other entry is one of the second user's links.
    for (const entry of fs.readdirSync(shared)) {
      if (entry === 'app.pid') continue;
      expect(fs.lstatSync(path.join(shared, entry)).uid).toBe(mallory.uid);
    }
  });

  test('a pid file the second user created first (0666, naming a victim) makes start-up fail with ERR_BATON_PID_FILE naming the owner', async () => {
    const shared = dir(0o1777);
    const pidFile = path.join(shared, 'app.pid');
    const bystander = spawn('sleep', ['60'], { stdio: 'ignore' });
    rememberPid(bystander.pid);
    expect(asMallory('sh', ['-c', `umask 0; echo ${bystander.pid} > ${pidFile}`]).status).toBe(0);

    const service = startServer(APP, { ...DEPLOYED_ENV, BATON_PID_FILE: pidFile });
    const code = await exitCodeWithin(service.exited);
    expect(code).not.toBe('still running');
    expect(code).not.toBe(0);
    expect(service.output()).toContain('ERR_BATON_PID_FILE');
    expect(service.output()).toContain(`belongs to uid ${mallory.uid} (${mallory.name})`);
    expect(service.output()).not.toMatch(/listening \d+/);
    // Still the second user's file, and the victim was never signalled.
    expect(fs.statSync(pidFile).uid).toBe(mallory.uid);
    expect(isAlive(bystander.pid as number)).toBe(true);
  });

  test('a directory every user can write to and not sticky is refused at start-up', async () => {
    const open = dir(0o777);
    const service = startServer(APP, { ...DEPLOYED_ENV, BATON_PID_FILE: path.join(open, 'app.pid') });
    const code = await exitCodeWithin(service.exited);
    expect(code).not.toBe('still running');
    expect(code).not.toBe(0);
    expect(service.output()).toContain('ERR_BATON_PID_FILE');
    expect(service.output()).toContain(`directory ${open} is writable by every user (mode 0777) and not sticky`);
    expect(fs.readdirSync(open)).toEqual([]);
  });

  test("baton reload refuses the second user's pid file naming a victim: the victim is not signalled", async () => {
    const shared = dir(0o1777);
    const pidFile = path.join(shared, 'app.pid');
    const bystander = spawn('sleep', ['60'], { stdio: 'ignore' }); // SIGHUP would kill it
    rememberPid(bystander.pid);
    expect(asMallory('sh', ['-c', `echo ${bystander.pid} > ${pidFile}`]).status).toBe(0);

    for (const command of ['reload', 'status']) {
      const result = await baton([command, '--pid-file', pidFile, '--timeout', '5s']);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain(`pid file ${pidFile} belongs to uid ${mallory.uid} (${mallory.name})`);
    }
    expect(isAlive(bystander.pid as number)).toBe(true);
  });

  test("baton reload refuses root's own pid file when the pid now runs as another user (a reused pid)", async () => {
    const mine = dir(0o755);
    const pidFile = path.join(mine, 'app.pid');
    const theirs = spawnAsMallory('sleep', ['60'], ['ignore', 'ignore', 'ignore']);
    fs.writeFileSync(pidFile, `${theirs.pid}\n`);
    const result = await baton(['reload', '--pid-file', pidFile, '--timeout', '5s']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`names pid ${theirs.pid}, which runs as uid ${mallory.uid} (${mallory.name})`);
    expect(isAlive(theirs.pid as number)).toBe(true);
  });
});

describe('the control socket', () => {
  testAsMallory(
    'spoofed: the second user binds <pid file>.sock first; baton reload refuses it naming the owner, and exits non-zero',
    async () => {
      const shared = dir(0o1777);
      const pidFile = path.join(shared, 'X.pid');
      const service = await victimService({ BATON_PID_FILE: pidFile });
      const fake = spawnAsMallory(process.execPath, [readableFixture('security-fake-control.js'), `${pidFile}.sock`]);
      await waitFor('the fake control socket', () => fake.output().includes('listening'));

      const reload = await baton(['reload', '--pid-file', pidFile, '--timeout', '10s']);
      expect(reload.code).not.toBe(0);
      expect(reload.code).not.toBeNull();
      expect(reload.stderr).toContain(
        `control socket ${pidFile}.sock belongs to uid ${mallory.uid} (${mallory.name}), not to root`,
      );
      expect(reload.stdout).not.toContain('reload ok');
      const status = await baton(['status', '--pid-file', pidFile]);
      expect(status.code).not.toBe(0);
      const explicit = await baton(['reload', '--control', `${pidFile}.sock`]);
      expect(explicit.code).not.toBe(0);
      expect(explicit.stderr).toContain(`belongs to uid ${mallory.uid} (${mallory.name})`);

      // baton never talked to it, and nothing reloaded.
      expect(fake.output()).not.toContain('connection');
      expect(readPid(pidFile)).toBe(service.pid);
      expect(service.output()).not.toContain('SIGHUP');
      expect(isAlive(service.pid)).toBe(true);
    },
  );

  describe('requests that are refused are answered once, cut, and never acted on', () => {
    let service: Server & { port: number };
    let pidFile: string;
    let control: string;

    beforeEach(async () => {
      const run = dir(0o755);
      pidFile = path.join(run, 'app.pid');
      control = path.join(run, 'control.sock');
      service = await victimService({ BATON_PID_FILE: pidFile, BATON_CONTROL: control });
      await waitFor('the control socket', () => fs.existsSync(control));
    });

    /**
     * Connects, runs `send`, and collects what the server says until it ends the connection. The
     * client is half-open (allowHalfOpen): like an attacker's, it keeps writing after the server's
     * answer and FIN, which an older server went on reading, and acting on.
     */
    function exchange(
      send: (socket: net.Socket) => void | Promise<void>,
    ): Promise<{ lines: string[]; endedAfterMs: number }> {
      return new Promise((resolve, reject) => {
        const started = Date.now();
        const socket = net.connect({ path: control, allowHalfOpen: true });
        let text = '';
        let endedAfterMs: number | undefined;
        let sent = false;
        const done = (): void => {
          if (endedAfterMs === undefined || !sent) return;
          clearTimeout(timer);
          socket.destroy();
          resolve({ lines: text.split('\n').filter(Boolean), endedAfterMs });
        };
        socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
        socket.on('error', () => undefined); // EPIPE/ECONNRESET once the server has cut us off
        socket.once('end', () => {
          endedAfterMs = Date.now() - started;
          done();
        });
        socket.once('connect', () => {
          Promise.resolve(send(socket)).then(() => {
            sent = true;
            done();
          }, reject);
        });
        const timer = setTimeout(() => {
          socket.destroy();
          reject(new Error(`the server did not end the connection in 20 s; it said: ${text}`));
        }, 20_000);
      });
    }

    /** No reload happened: the same pid serves, nobody logged a reload, status has no last reload. */
    async function expectNoReload(): Promise<void> {
      await sleep(1000);
      expect(readPid(pidFile)).toBe(service.pid);
      expect(service.output()).not.toMatch(/reload requested|starting next generation/);
      const status = await baton(['status', '--control', control, '--json']);
      expect(status.code).toBe(0);
      const answer = JSON.parse(status.stdout) as { pid: number; lastReload?: unknown };
      expect(answer.pid).toBe(service.pid);
      expect(answer.lastReload).toBeUndefined();
    }

    const refusal = (lines: string[], why: RegExp): void => {
      expect(lines).toHaveLength(1);
      const event = JSON.parse(lines[0] as string) as {
        type: string;
        ok: boolean;
        error: { code: string; message: string };
      };
      expect(event).toMatchObject({ type: 'result', ok: false, error: { code: 'ERR_BATON_CONTROL_REQUEST' } });
      expect(event.error.message).toMatch(why);
    };

    testAsMallory('the second user cannot connect at all (mode 0600)', () => {
      const tried = asMallory(process.execPath, [
        '-e',
        `require('net').connect(${JSON.stringify(control)}).on('error', (e) => { console.log(e.code); process.exit(3); }).on('connect', () => process.exit(0))`,
      ]);
      expect(tried.status).toBe(3);
      expect(tried.stdout.trim()).toBe('EACCES');
    });

    test('"request too long", then the client keeps writing and finishes a valid reload line: cut, no reload', async () => {
      const { lines } = await exchange(async (socket) => {
        // Valid JSON followed by padding: an older server answered "too long" and then parsed it anyway.
        socket.write(`{"command":"reload"}${' '.repeat(2500)}`);
        await sleep(100);
        socket.write(' '.repeat(2500));
        await sleep(300);
        socket.write('\n');
        socket.write('{"command":"reload"}\n');
      });
      refusal(lines, /request too long/);
      await expectNoReload();
    });

    test('a 60 KB line in one write is refused before it is parsed: no reload', async () => {
      const { lines } = await exchange((socket) => {
        socket.write(`${JSON.stringify({ command: 'reload', pad: 'x'.repeat(60_000) })}\n`);
      });
      refusal(lines, /request too long/);
      await expectNoReload();
    });

    test('a byte every second (a slow client) is cut 5 s after connecting, before the line completes: no reload', async () => {
      let sent = 0;
      const { lines, endedAfterMs } = await exchange(async (socket) => {
        for (const byte of '{"command":"reload"}\n') {
          if (socket.destroyed || socket.readableEnded) return;
          socket.write(byte);
          sent++;
          await sleep(1000);
        }
      });
      refusal(lines, /no complete request line within 5 s/);
      expect(endedAfterMs).toBeGreaterThanOrEqual(4500);
      expect(endedAfterMs).toBeLessThan(8000);
      expect(sent).toBeLessThan(10);
      await expectNoReload();
    });
  });
});

describeAsMallory('the handoff variables', () => {
  test('forged: BATON_SUPERVISOR_PID names a process that is not an ancestor; the app refuses the socket with ERR_BATON_BAD_HANDOFF', async () => {
    // Another service's listening socket, which the forged environment tries to make the app adopt.
    const other = net.createServer((socket) => socket.end('other service\n'));
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    const fd = (other as unknown as { _handle: { fd: number } })._handle.fd;
    const victimSupervisor = spawn('sleep', ['60'], { stdio: 'ignore' });
    rememberPid(victimSupervisor.pid);
    try {
      const forged = {
        LISTEN_FDS: '1',
        LISTEN_FDNAMES: 'given%3Ahttp',
        BATON_SUPERVISOR_PID: String(victimSupervisor.pid),
      };
      // With an IPC channel, as a real worker has: only the ancestry is wrong. (Run by this user: the
      // forged variables are the attack, whoever starts the app.)
      const app = spawnForged(process.execPath, [APP], ['ignore', 'pipe', 'pipe', fd, 'ipc'], {
        ...forged,
        BATON_LOG: 'info',
      });
      const exited = await exitCodeWithin(
        new Promise<number | null>((resolve) => app.once('exit', (code) => resolve(code))),
      );
      expect(exited).not.toBe('still running');
      expect(exited).not.toBe(0);
      expect(app.output()).toContain('ERR_BATON_BAD_HANDOFF');
      expect(app.output()).toContain(
        `BATON_SUPERVISOR_PID=${victimSupervisor.pid} but that process is not an ancestor of this one`,
      );
      expect(app.output()).not.toMatch(/listening \d+/);

      // The right ancestor (this process), but no IPC channel: refused as well.
      const noIpc = spawnForged(process.execPath, [APP], ['ignore', 'pipe', 'pipe', fd], {
        ...forged,
        BATON_SUPERVISOR_PID: String(process.pid),
        BATON_LOG: 'info',
      });
      const noIpcExit = await exitCodeWithin(
        new Promise<number | null>((resolve) => noIpc.once('exit', (code) => resolve(code))),
      );
      expect(noIpcExit).not.toBe('still running');
      expect(noIpcExit).not.toBe(0);
      expect(noIpc.output()).toContain('ERR_BATON_BAD_HANDOFF');
      expect(noIpc.output()).toContain(`BATON_SUPERVISOR_PID=${process.pid} but this process has no IPC channel`);
    } finally {
      await new Promise((resolve) => other.close(resolve));
    }
  });
});

describe('the example apps compare the /upgrade token in constant time', () => {
  test.each(['express', 'koa'])(
    '%s: timingSafeEqual over sha256 digests, no `!==` on the token; wrong tokens of any length get 401',
    async (framework) => {
      const script = path.join(ROOT, 'examples', framework, 'server.js');
      const source = fs.readFileSync(script, 'utf8');
      expect(source).toMatch(/timingSafeEqual\(sha256\(/);
      expect(source).not.toMatch(/!==\s*`Bearer/);
      const run = tempDir('baton-sec-example-');
      dirs.push(run);
      const server = startServer(script, {
        ...DEPLOYED_ENV,
        PORT: '0',
        UPGRADE_TOKEN: 's3cret-token',
        BATON_PID_FILE: path.join(run, 's.pid'),
      });
      const port = await waitFor(
        'the listening line',
        () => Number(/127\.0\.0\.1:(\d+)/.exec(server.output())?.[1]) || undefined,
      );
      for (const header of [
        undefined,
        'Bearer ',
        'Bearer s',
        'Bearer s3cret-toke',
        'Bearer s3cret-tokenX',
        `Bearer ${'x'.repeat(5000)}`,
        's3cret-token',
      ]) {
        const reply = await request(port, '/upgrade', {
          method: 'POST',
          headers: header === undefined ? {} : { authorization: header },
        });
        expect(reply.status).toBe(401);
      }
      const ok = await request(port, '/upgrade', { method: 'POST', headers: { authorization: 'Bearer s3cret-token' } });
      expect(ok.status).toBe(200);
      expect(ok.body).toMatch(/^restart ok: \d+ -> \d+/);
    },
  );
});
