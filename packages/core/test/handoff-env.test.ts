import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BatonError } from '../src/errors';
import {
  claimInherited,
  closeUnclaimed,
  HANDOFF_VARIABLES,
  handoffEnv,
  isAncestor,
  LISTEN_FDS_START,
  parentOf,
  readInheritance,
  socketState,
  SUPERVISOR_MAX_DEPTH,
  unsupportedSocketKind,
  workerEnv,
  type Inheritance,
} from '../src/wire/handoff-env';

/** The child processes load the built module: that is what a real successor runs. */
const DIST = path.resolve(__dirname, '..', 'dist', 'wire', 'handoff-env.js');
const CHILD_WAIT_MS = 15_000;

const PID = 5000;
const PPID = 4000;

function thrown(fn: () => unknown): BatonError {
  try {
    fn();
  } catch (error) {
    return error as BatonError;
  }
  throw new Error('expected a BatonError, nothing was thrown');
}

function expectBadHandoff(fn: () => unknown, ...fragments: string[]): void {
  const error = thrown(fn);
  expect(error).toBeInstanceOf(BatonError);
  expect(error.code).toBe('ERR_BATON_BAD_HANDOFF');
  for (const fragment of fragments) expect(error.message).toContain(fragment);
}

describe('readInheritance without descriptors to look at', () => {
  test('no variables: nothing inherited', () => {
    expect(readInheritance({}, PID, PPID)).toEqual({ source: 'none', sockets: [] });
    expect(readInheritance({ PATH: '/usr/bin', HOME: '/root' }, PID, PPID)).toEqual({ source: 'none', sockets: [] });
  });

  test('systemd variables meant for another process (LISTEN_PID) are ignored, however malformed the rest', () => {
    expect(readInheritance({ LISTEN_PID: String(PID + 1), LISTEN_FDS: '2', LISTEN_FDNAMES: 'a:b' }, PID, PPID)).toEqual(
      {
        source: 'none',
        sockets: [],
      },
    );
    expect(readInheritance({ LISTEN_PID: '1', LISTEN_FDS: 'garbage', LISTEN_FDNAMES: 'x:y:z' }, PID, PPID).source).toBe(
      'none',
    );
  });

  test('LISTEN_FDS without LISTEN_PID (leaked from an ancestor) is ignored, as sd_listen_fds does', () => {
    expect(readInheritance({ LISTEN_FDS: '2', LISTEN_FDNAMES: 'a:b' }, PID, PPID)).toEqual({
      source: 'none',
      sockets: [],
    });
    expect(readInheritance({ LISTEN_FDS: 'garbage' }, PID, PPID).source).toBe('none');
  });

  test('LISTEN_PID or LISTEN_FDNAMES without LISTEN_FDS: nothing inherited', () => {
    expect(readInheritance({ LISTEN_PID: String(PID) }, PID, PPID).source).toBe('none');
    expect(readInheritance({ LISTEN_FDNAMES: 'web' }, PID, PPID).source).toBe('none');
  });

  test('malformed LISTEN_PID', () => {
    for (const value of ['abc', '-1', '12a', '']) {
      expectBadHandoff(
        () => readInheritance({ LISTEN_PID: value, LISTEN_FDS: '1' }, PID, PPID),
        `LISTEN_PID=${JSON.stringify(value)}`,
      );
    }
  });

  test.each(['abc', '0', '-1', '1025', '1.5', '', ' 1', '0x1'])('malformed LISTEN_FDS=%j', (value) => {
    expectBadHandoff(
      () => readInheritance({ LISTEN_PID: String(PID), LISTEN_FDS: value }, PID, PPID),
      `LISTEN_FDS=${JSON.stringify(value)}`,
    );
  });

  test('LISTEN_FDNAMES with the wrong number of names', () => {
    expectBadHandoff(
      () => readInheritance({ LISTEN_PID: String(PID), LISTEN_FDS: '2', LISTEN_FDNAMES: 'web' }, PID, PPID),
      'LISTEN_FDNAMES="web"',
      '1 names',
      'LISTEN_FDS=2',
    );
    expectBadHandoff(
      () => readInheritance({ LISTEN_PID: String(PID), LISTEN_FDS: '1', LISTEN_FDNAMES: 'a:b:c' }, PID, PPID),
      '3 names',
      'LISTEN_FDS=1',
    );
  });

  test.each(['abc', '0', '1', '-7', '', '12x'])('malformed BATON_PREDECESSOR_PID=%j', (value) => {
    expectBadHandoff(
      () =>
        readInheritance({ BATON_PREDECESSOR_PID: value, LISTEN_FDS: '1', LISTEN_FDNAMES: 'tcp%3A*%3A0' }, PID, PPID),
      `BATON_PREDECESSOR_PID=${JSON.stringify(value)}`,
    );
  });

  test('BATON_PREDECESSOR_PID must be our parent: a leaked variable (that process runs elsewhere) is refused, naming both pids', () => {
    const alive = (): boolean => true;
    expectBadHandoff(
      () => readInheritance({ ...handoffEnv(['tcp:*:80'], 4242), LISTEN_PID: String(PID) }, PID, PPID, alive),
      'BATON_PREDECESSOR_PID=4242',
      `parent is ${PPID}`,
    );
  });

  test('a predecessor that died while its successor started (we were reparented): the handoff is ours, marked predecessorGone', () => {
    const checked: number[] = [];
    const dead = (pid: number): boolean => {
      checked.push(pid);
      return false;
    };
    // No descriptors to check: a predecessor whose listeners were all closed hands over none.
    expect(readInheritance(handoffEnv([], 4242), PID, 1, dead, { hasIpcChannel: true })).toEqual({
      source: 'baton',
      sockets: [],
      predecessorPid: 4242,
      predecessorGone: true,
    });
    expect(checked).toEqual([4242]);
  });

  test('a dead BATON_PREDECESSOR_PID in a process without an IPC channel is a stale variable, not a handoff', () => {
    expectBadHandoff(
      () => readInheritance(handoffEnv(['tcp:*:80'], 4242), PID, 1, () => false, { hasIpcChannel: false }),
      'BATON_PREDECESSOR_PID=4242 names a process that is gone, and this process has no IPC channel',
    );
  });

  test('BATON_PREDECESSOR_PID without LISTEN_FDS or LISTEN_FDNAMES', () => {
    expectBadHandoff(() => readInheritance({ BATON_PREDECESSOR_PID: String(PPID) }, PID, PPID), 'LISTEN_FDS is not');
    expectBadHandoff(
      () => readInheritance({ BATON_PREDECESSOR_PID: String(PPID), LISTEN_FDS: '1' }, PID, PPID),
      'LISTEN_FDNAMES is not',
    );
  });

  test('a baton handoff ignores LISTEN_PID (it cannot know its child pid in advance)', () => {
    // Were LISTEN_PID honoured, this would return 'none'; instead the (bad) names are validated.
    expectBadHandoff(
      () =>
        readInheritance(
          { BATON_PREDECESSOR_PID: String(PPID), LISTEN_PID: '999999', LISTEN_FDS: '2', LISTEN_FDNAMES: 'a' },
          PID,
          PPID,
        ),
      '1 names',
    );
  });

  test('an undecodable baton listener name', () => {
    expectBadHandoff(
      () =>
        readInheritance(
          { BATON_PREDECESSOR_PID: String(PPID), LISTEN_FDS: '1', LISTEN_FDNAMES: '%E0%A4%A' },
          PID,
          PPID,
        ),
      'LISTEN_FDNAMES: "%E0%A4%A" is not a listener key',
    );
  });

  test('a baton handoff of zero listeners round-trips', () => {
    expect(readInheritance(handoffEnv([], PPID), PID, PPID)).toEqual({
      source: 'baton',
      sockets: [],
      predecessorPid: PPID,
    });
  });
});

describe('handoffEnv', () => {
  test('names every fd by its URI-encoded key: no name contains the separator', () => {
    const keys = ['tcp:127.0.0.1:9527', 'unix:/run/app.sock', 'tcp:[::1]:80', 'tcp:*:0#2', 'unix:/tmp/a b%c:d.sock'];
    const env = handoffEnv(keys, 4312);
    expect(env.LISTEN_FDS).toBe('5');
    expect(env.BATON_PREDECESSOR_PID).toBe('4312');
    const names = (env.LISTEN_FDNAMES as string).split(':');
    expect(names).toHaveLength(keys.length);
    expect(names.map((n) => decodeURIComponent(n))).toEqual(keys);
    for (const name of names) expect(name).not.toMatch(/[:/]/);
    expect(Object.keys(env).sort()).toEqual(['BATON_PREDECESSOR_PID', 'LISTEN_FDNAMES', 'LISTEN_FDS']);
  });

  test('every variable it sets is one the successor removes from its environment', async () => {
    // A real successor: the built @baton/core in a child given handoffEnv() and a listening socket
    // at fd 3, as a reload starts it. It reports what it was started with (/proc/self/environ), what
    // its process.env still holds once listening, and what a child process of its own sees.
    const core = path.resolve(__dirname, '..', 'dist', 'index.js');
    if (!fs.existsSync(core)) throw new Error(`${core} is missing: run \`npx pnpm@10.34.9 build\` first`);
    const script = `
      const fs = require('node:fs');
      const http = require('node:http');
      const { execFileSync } = require('node:child_process');
      const { listen } = require(${JSON.stringify(core)});
      const names = JSON.parse(process.argv[1]);
      const present = (keys) => names.filter((n) => keys.includes(n));
      const startedWith = present(fs.readFileSync('/proc/self/environ', 'latin1').split('\\0').map((e) => e.split('=')[0]));
      const server = http.createServer();
      listen(server, 0, '127.0.0.1', () => {
        const child = JSON.parse(execFileSync(process.execPath, ['-e', 'process.stdout.write(JSON.stringify(Object.keys(process.env)))'], { encoding: 'utf8' }));
        process.stdout.write(JSON.stringify({ startedWith, own: present(Object.keys(process.env)), child: present(child) }) + '\\n');
        process.exit(0);
      });
    `;
    const socket = net.createServer();
    await new Promise<void>((resolve) => socket.listen(0, '127.0.0.1', resolve));
    const env = handoffEnv(['tcp:127.0.0.1:0'], process.pid);
    const names = Object.keys(env);
    const child = spawn(process.execPath, ['-e', script, JSON.stringify(names)], {
      env: cleanEnv(env),
      stdio: ['ignore', 'pipe', 'pipe', handleFd(socket), 'ipc'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        timer = setTimeout(
          () => reject(new Error(`the successor did not exit in ${CHILD_WAIT_MS} ms; stderr: ${stderr}`)),
          CHILD_WAIT_MS,
        );
        child.once('exit', () => resolve());
      });
      const line = stdout.split('\n')[0] ?? '';
      if (!line.startsWith('{')) throw new Error(`the successor printed ${JSON.stringify(stdout)}; stderr: ${stderr}`);
      const seen = JSON.parse(line) as { startedWith: string[]; own: string[]; child: string[] };
      expect(names.length).toBeGreaterThan(0);
      expect(seen.startedWith.sort()).toEqual([...names].sort());
      expect(seen.own).toEqual([]);
      expect(seen.child).toEqual([]);
    } finally {
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      socket.close();
    }
  });
});

function inheritance(source: Inheritance['source'], names: string[], firstFd = LISTEN_FDS_START): Inheritance {
  return { source, sockets: names.map((name, i) => ({ fd: firstFd + i, name, claimed: false })) };
}

describe('claimInherited', () => {
  test('baton: by key only; a new key binds fresh', () => {
    const inh = inheritance('baton', ['tcp:127.0.0.1:9527', 'unix:/run/app.sock']);
    expect(claimInherited(inh, 'tcp:*:8080')).toBeUndefined();
    expect(inh.sockets.every((s) => !s.claimed)).toBe(true);
    expect(claimInherited(inh, 'unix:/run/app.sock')?.fd).toBe(4);
    expect(claimInherited(inh, 'tcp:127.0.0.1:9527')?.fd).toBe(3);
    expect(inh.sockets.map((s) => s.claimed)).toEqual([true, true]);
  });

  test('baton: a socket is claimed once', () => {
    const inh = inheritance('baton', ['tcp:*:0', 'tcp:*:0#2']);
    expect(claimInherited(inh, 'tcp:*:0')?.fd).toBe(3);
    expect(claimInherited(inh, 'tcp:*:0')).toBeUndefined();
    expect(claimInherited(inh, 'tcp:*:0#2')?.fd).toBe(4);
  });

  test('systemd: in order, unless a FileDescriptorName equals the key', () => {
    const inh = inheritance('systemd', ['web', 'tcp:127.0.0.1:9000', 'admin']);
    expect(claimInherited(inh, 'tcp:127.0.0.1:9000')?.fd).toBe(4);
    expect(claimInherited(inh, 'tcp:*:80')?.fd).toBe(3);
    expect(claimInherited(inh, 'tcp:*:81')?.fd).toBe(5);
    expect(claimInherited(inh, 'tcp:*:82')).toBeUndefined();
    expect(claimInherited(inh, 'tcp:127.0.0.1:9000')).toBeUndefined();
  });

  test('nothing inherited: nothing to claim', () => {
    expect(claimInherited({ source: 'none', sockets: [] }, 'tcp:*:0')).toBeUndefined();
  });
});

describe('closeUnclaimed (real descriptors)', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-handoff-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function isOpen(fd: number): boolean {
    try {
      fs.fstatSync(fd);
      return true;
    } catch {
      return false;
    }
  }

  test('closes exactly the unclaimed descriptors, once', () => {
    const fds = [0, 1, 2].map((i) => fs.openSync(path.join(dir, `f${i}`), 'w'));
    const inh: Inheritance = { source: 'baton', sockets: fds.map((fd, i) => ({ fd, name: `k${i}`, claimed: false })) };
    try {
      expect(claimInherited(inh, 'k1')?.fd).toBe(fds[1]);
      expect(closeUnclaimed(inh)).toEqual([fds[0], fds[2]]);
      expect(fds.map(isOpen)).toEqual([false, true, false]);
      expect(inh.sockets.every((s) => s.claimed)).toBe(true);
      // Everything is accounted for now: a second call closes nothing (the numbers may be reused).
      expect(closeUnclaimed(inh)).toEqual([]);
    } finally {
      fs.closeSync(fds[1] as number);
    }
  });

  test('a descriptor someone else already closed is skipped without an error', () => {
    const fd = fs.openSync(path.join(dir, 'gone'), 'w');
    const inh: Inheritance = { source: 'systemd', sockets: [{ fd, name: 'unknown', claimed: false }] };
    fs.closeSync(fd);
    expect(closeUnclaimed(inh)).toEqual([]);
    expect(inh.sockets[0]?.claimed).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// Real inherited descriptors: a child process gets real sockets and files at fds 3, 4, ...

interface ChildSpec {
  /** Set LISTEN_PID to the child's own pid before reading (what systemd does between fork and exec). */
  listenPidSelf?: boolean;
  /** Close these fds in the child first. */
  closeFirst?: number[];
  claim?: string[];
  closeUnclaimed?: boolean;
  /** Adopt this inherited fd with net.Server#listen({ fd }) and answer one connection with the pid. */
  serveFd?: number;
}

interface ChildReport {
  ok: boolean;
  pid: number;
  ppid: number;
  /** As readInheritance returned it, before any claim. */
  inheritance?: Inheritance;
  claims?: Array<number | null>;
  closed?: number[];
  open?: boolean[];
  name?: string;
  code?: string;
  message?: string;
}

const CHILD_SCRIPT = `
const fs = require('node:fs');
const net = require('node:net');
const h = require(${JSON.stringify(DIST)});
const spec = JSON.parse(process.argv[1]);
const report = { pid: process.pid, ppid: process.ppid };
const done = () => process.stdout.write(JSON.stringify(report) + '\\n');
try {
  for (const fd of spec.closeFirst || []) fs.closeSync(fd);
  if (spec.listenPidSelf) process.env.LISTEN_PID = String(process.pid);
  const inheritance = h.readInheritance(process.env, process.pid, process.ppid);
  const asRead = JSON.parse(JSON.stringify(inheritance));
  const claims = (spec.claim || []).map((key) => { const s = h.claimInherited(inheritance, key); return s ? s.fd : null; });
  const closed = spec.closeUnclaimed ? h.closeUnclaimed(inheritance) : [];
  const open = inheritance.sockets.map((s) => { try { fs.fstatSync(s.fd); return true; } catch { return false; } });
  Object.assign(report, { ok: true, inheritance: asRead, claims, closed, open });
} catch (error) {
  Object.assign(report, { ok: false, name: error.name, code: error.code, message: error.message });
}
if (spec.serveFd !== undefined && report.ok) {
  const server = net.createServer((socket) => { socket.end('served by ' + process.pid); server.close(); });
  server.listen({ fd: spec.serveFd }, done);
} else {
  done();
}
`;

/** Environment without any handoff variable of ours (a test run may itself be under systemd). */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of [...HANDOFF_VARIABLES, 'LISTEN_PID', 'BATON_SUPERVISOR_PID']) delete env[name];
  return { ...env, ...extra };
}

interface Child {
  pid: number;
  report: Promise<ChildReport>;
  exited: Promise<number | null>;
}

const children = new Set<number>();

function runChild(fds: number[], env: Record<string, string>, spec: ChildSpec = {}, withIpc = false): Child {
  const child = spawn(process.execPath, ['-e', CHILD_SCRIPT, JSON.stringify(spec)], {
    env: cleanEnv(env),
    // A real successor has an IPC channel after its sockets.
    stdio: ['ignore', 'pipe', 'pipe', ...fds, ...(withIpc ? (['ipc'] as const) : [])],
  });
  // The channel is only there to exist: do not let it keep this process waiting.
  if (withIpc) child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new Error('spawn failed');
  // Killed in afterEach if still running; forgotten once it exits (its pid may be reused).
  children.add(pid);
  child.once('exit', () => children.delete(pid));
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const report = new Promise<ChildReport>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`child did not report in ${CHILD_WAIT_MS} ms; stderr: ${stderr}`)),
      CHILD_WAIT_MS,
    );
    const check = (): void => {
      const line = stdout.split('\n')[0];
      if (stdout.includes('\n') && line) {
        clearTimeout(timer);
        try {
          resolve(JSON.parse(line) as ChildReport);
        } catch {
          reject(new Error(`child printed ${stdout}; stderr: ${stderr}`));
        }
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', () => {
      check();
      clearTimeout(timer);
      reject(new Error(`child exited without a report; stdout: ${stdout}; stderr: ${stderr}`));
    });
  });
  return { pid, report, exited };
}

async function report(
  fds: number[],
  env: Record<string, string>,
  spec: ChildSpec = {},
  withIpc = false,
): Promise<ChildReport> {
  const child = runChild(fds, env, spec, withIpc);
  const r = await child.report;
  expect(r.ppid).toBe(process.pid);
  await child.exited;
  return r;
}

function handleFd(server: net.Server): number {
  const fd = (server as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('server has no fd');
  return fd;
}

describe('readInheritance with real inherited descriptors (child processes)', () => {
  let dir: string;
  let tcp: net.Server;
  let tcp2: net.Server;
  let unix: net.Server;
  let unixPath: string;
  let fileFd: number;

  function listen(server: net.Server, ...args: unknown[]): Promise<void> {
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      (server.listen as (...a: unknown[]) => void)(...args, () => resolve());
    });
  }

  beforeAll(() => {
    if (!fs.existsSync(DIST)) throw new Error(`${DIST} is missing: run \`npx pnpm@10.34.9 build\` first`);
  });

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-inherit-'));
    unixPath = path.join(dir, 'app.sock');
    tcp = net.createServer();
    tcp2 = net.createServer();
    unix = net.createServer();
    await listen(tcp, 0, '127.0.0.1');
    await listen(tcp2, 0, '127.0.0.1');
    await listen(unix, unixPath);
    fileFd = fs.openSync(path.join(dir, 'plain.txt'), 'w');
  });

  afterEach(async () => {
    for (const pid of [...children]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already exited.
      }
    }
    fs.closeSync(fileFd);
    for (const server of [tcp, tcp2, unix]) {
      if (server.listening) await new Promise((resolve) => server.close(resolve));
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('systemd: LISTEN_PID matches, names kept as given (not URI-decoded)', async () => {
    const r = await report(
      [handleFd(tcp), handleFd(unix)],
      { LISTEN_FDS: '2', LISTEN_FDNAMES: 'web:admin%zz' },
      { listenPidSelf: true },
    );
    expect(r.ok).toBe(true);
    expect(r.inheritance).toEqual({
      source: 'systemd',
      sockets: [
        { fd: 3, name: 'web', claimed: false },
        { fd: 4, name: 'admin%zz', claimed: false },
      ],
    });
    expect(r.open).toEqual([true, true]);
  });

  test('systemd without LISTEN_FDNAMES: sockets named "unknown"', async () => {
    const r = await report([handleFd(tcp)], { LISTEN_FDS: '1' }, { listenPidSelf: true });
    expect(r.inheritance).toEqual({ source: 'systemd', sockets: [{ fd: 3, name: 'unknown', claimed: false }] });
  });

  test('systemd: LISTEN_PID of another process means the fds are not ours (nothing is touched)', async () => {
    const r = await report([handleFd(tcp)], { LISTEN_FDS: '1', LISTEN_PID: '1' }, { closeUnclaimed: true });
    expect(r.inheritance).toEqual({ source: 'none', sockets: [] });
    expect(r.closed).toEqual([]);
  });

  test('systemd: listen() calls take sockets in order, a matching name first; the rest are closed', async () => {
    const r = await report(
      [handleFd(tcp), handleFd(tcp2), handleFd(unix)],
      { LISTEN_FDS: '3', LISTEN_FDNAMES: 'a:special:c' },
      { listenPidSelf: true, claim: ['special', 'tcp:*:8080'], closeUnclaimed: true },
    );
    expect(r.ok).toBe(true);
    expect(r.claims).toEqual([4, 3]);
    expect(r.closed).toEqual([5]);
    expect(r.open).toEqual([true, true, false]);
  });

  test('baton: keys with ":" and "/" round-trip through handoffEnv; claimed by key; the rest closed', async () => {
    const tcpKey = `tcp:127.0.0.1:${(tcp.address() as net.AddressInfo).port}`;
    const unixKey = `unix:${unixPath}`;
    const oddKey = 'tcp:*:0#2';
    const env = handoffEnv([tcpKey, unixKey, oddKey], process.pid);
    const r = await report([handleFd(tcp), handleFd(unix), handleFd(tcp2)], env, {
      claim: [unixKey, 'tcp:*:9999', oddKey],
      closeUnclaimed: true,
    });
    expect(r.ok).toBe(true);
    expect(r.inheritance).toEqual({
      source: 'baton',
      predecessorPid: process.pid,
      sockets: [
        { fd: 3, name: tcpKey, claimed: false },
        { fd: 4, name: unixKey, claimed: false },
        { fd: 5, name: oddKey, claimed: false },
      ],
    });
    // No positional fallback for a baton successor: a new key binds fresh.
    expect(r.claims).toEqual([4, null, 5]);
    expect(r.closed).toEqual([3]);
    expect(r.open).toEqual([false, true, true]);
  });

  test('baton: the inherited fd is the very same listening socket (the child accepts on it)', async () => {
    const port = (tcp.address() as net.AddressInfo).port;
    const child = runChild([handleFd(tcp)], handoffEnv([`tcp:127.0.0.1:${port}`], process.pid), { serveFd: 3 });
    const r = await child.report;
    expect(r.ok).toBe(true);
    // Our handle closes; the socket lives on in the child.
    await new Promise((resolve) => tcp.close(resolve));
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (text += chunk));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
      socket.setTimeout(CHILD_WAIT_MS, () => socket.destroy(new Error('no answer from the child')));
    });
    expect(answer).toBe(`served by ${child.pid}`);
    expect(await child.exited).toBe(0);
  });

  test('a regular file where a socket should be', async () => {
    const r = await report(
      [handleFd(tcp), fileFd],
      { LISTEN_FDS: '2', LISTEN_FDNAMES: 'a:b' },
      { listenPidSelf: true },
    );
    expect(r).toMatchObject({ ok: false, name: 'BatonError', code: 'ERR_BATON_BAD_HANDOFF' });
    expect(r.message).toContain('fd 4 is a regular file, not a listening socket');
    expect(r.message).toContain('LISTEN_FDS=2');
  });

  test('a regular file in a baton handoff', async () => {
    const r = await report([fileFd], handoffEnv(['tcp:*:80'], process.pid));
    expect(r).toMatchObject({ ok: false, code: 'ERR_BATON_BAD_HANDOFF' });
    expect(r.message).toContain('fd 3 is a regular file');
  });

  test('a connected (not listening) socket at fd 3 is refused naming the fd, instead of a bare listen EINVAL later', async () => {
    const client = net.connect((tcp.address() as net.AddressInfo).port, '127.0.0.1');
    await new Promise((resolve) => client.once('connect', resolve));
    try {
      const r = await report([handleFd(client as unknown as net.Server)], { LISTEN_FDS: '1' }, { listenPidSelf: true });
      expect(r).toMatchObject({ ok: false, code: 'ERR_BATON_BAD_HANDOFF' });
      expect(r.message).toContain('fd 3 is a connected socket, not a listening one');
    } finally {
      client.destroy();
    }
  });

  test('a descriptor that is not open', async () => {
    const r = await report([handleFd(tcp), fileFd], { LISTEN_FDS: '2' }, { listenPidSelf: true, closeFirst: [4] });
    expect(r).toMatchObject({ ok: false, name: 'BatonError', code: 'ERR_BATON_BAD_HANDOFF' });
    expect(r.message).toContain('fd 4 is not open');
  });

  test('a baton successor whose parent is not the named predecessor, which runs elsewhere, refuses the fds', async () => {
    // Our own parent is alive and is not the child's parent: the variable leaked.
    const r = await report([handleFd(tcp)], handoffEnv(['tcp:*:80'], process.ppid));
    expect(r).toMatchObject({ ok: false, code: 'ERR_BATON_BAD_HANDOFF' });
    expect(r.message).toContain(`parent is ${process.pid}`);
  });

  test('without an IPC channel, a dead named predecessor is a stale variable: the fds are refused', async () => {
    const r = await report([handleFd(tcp)], handoffEnv(['tcp:*:80'], 4_194_305));
    expect(r).toMatchObject({ ok: false, code: 'ERR_BATON_BAD_HANDOFF' });
    expect(r.message).toContain('has no IPC channel');
  });

  test('a baton successor whose named predecessor is gone (died while it started) takes the fds', async () => {
    const r = await report([handleFd(tcp)], handoffEnv(['tcp:*:80'], 4_194_305), {}, true);
    expect(r.ok).toBe(true);
    expect(r.inheritance).toMatchObject({
      source: 'baton',
      predecessorPid: 4_194_305,
      predecessorGone: true,
      sockets: [{ fd: 3, name: 'tcp:*:80' }],
    });
  });
});

describe('socketState: listening or connected, from the kernel tables', () => {
  const inode = (fd: number): bigint => fs.fstatSync(fd, { bigint: true }).ino;
  const fdOf = (handleOwner: unknown): number => (handleOwner as { _handle: { fd: number } })._handle.fd;

  test('a listening TCP socket, and both ends of a connection on it', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await new Promise((resolve) => client.once('connect', resolve));
    try {
      expect(socketState(inode(fdOf(server)))).toBe('listening');
      expect(socketState(inode(fdOf(client)))).toBe('connected');
    } finally {
      client.destroy();
      server.close();
    }
  });

  test('a listening unix socket, and a connection to it', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'baton-state-')), 's.sock');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(file, resolve));
    const client = net.connect(file);
    await new Promise((resolve) => client.once('connect', resolve));
    try {
      expect(socketState(inode(fdOf(server)))).toBe('listening');
      expect(socketState(inode(fdOf(client)))).toBe('connected');
    } finally {
      client.destroy();
      server.close();
    }
  });

  test('no /proc: unknown, and the handoff is not refused for it', () => {
    expect(socketState(1n, '/nonexistent')).toBe('unknown');
  });
});

// ---- issue 11: BATON_SUPERVISOR_PID is believed only from an ancestor, over an IPC channel -----------

describe('BATON_SUPERVISOR_PID: the supervisor relation is verified', () => {
  /** A process tree: pid -> parent. */
  const tree = (edges: Record<number, number>) => (pid: number) => edges[pid];
  const withIpc = { hasIpcChannel: true, parentOf: tree({ 4000: 3000, 3000: 1 }) };

  test('the parent, or an ancestor above a wrapper script: accepted', () => {
    expect(readInheritance({ BATON_SUPERVISOR_PID: '4000' }, PID, 4000, undefined, withIpc)).toEqual({
      source: 'supervisor',
      sockets: [],
      supervisorPid: 4000,
    });
    expect(readInheritance({ BATON_SUPERVISOR_PID: '3000' }, PID, 4000, undefined, withIpc)).toEqual({
      source: 'supervisor',
      sockets: [],
      supervisorPid: 3000,
    });
  });

  test('a process that is not an ancestor: ERR_BATON_BAD_HANDOFF naming the variable, before any descriptor is looked at', () => {
    for (const env of [{ BATON_SUPERVISOR_PID: '4242' }, workerEnv(['given:http'], 4242)]) {
      expectBadHandoff(
        () => readInheritance(env, PID, 4000, undefined, withIpc),
        'BATON_SUPERVISOR_PID=4242',
        'not an ancestor of this one (parent 4000)',
      );
    }
  });

  test('an ancestor with descriptors to adopt, but no IPC channel (baton run always opens one): refused', () => {
    expectBadHandoff(
      () =>
        readInheritance(workerEnv(['given:http'], 4000), PID, 4000, undefined, { ...withIpc, hasIpcChannel: false }),
      'BATON_SUPERVISOR_PID=4000',
      'no IPC channel',
    );
    // Nothing to adopt, nothing at stake: the worker only lacks its supervisor and serves in place.
    expect(
      readInheritance({ BATON_SUPERVISOR_PID: '4000' }, PID, 4000, undefined, { ...withIpc, hasIpcChannel: false })
        .source,
    ).toBe('supervisor');
  });

  test('the ancestor walk is bounded', () => {
    const chain: Record<number, number> = {};
    for (let pid = 100; pid < 100 + 2 * SUPERVISOR_MAX_DEPTH; pid++) chain[pid] = pid + 1;
    expect(isAncestor(100 + SUPERVISOR_MAX_DEPTH - 1, 100, tree(chain))).toBe(true);
    expect(isAncestor(100 + SUPERVISOR_MAX_DEPTH, 100, tree(chain))).toBe(false);
    // A loop or a vanished process ends the walk.
    expect(isAncestor(7, 5, tree({ 5: 6, 6: 5 }))).toBe(false);
    expect(isAncestor(7, 5, tree({}))).toBe(false);
  });

  (process.platform === 'linux' ? test : test.skip)('parentOf reads /proc/<pid>/stat', () => {
    expect(parentOf(process.pid)).toBe(process.ppid);
    expect(parentOf(4_194_305)).toBeUndefined();
  });
});

describe('BATON_SUPERVISOR_PID with real processes', () => {
  const started = new Set<number>();
  let tcp: net.Server;

  beforeAll(() => {
    if (!fs.existsSync(DIST)) throw new Error(`${DIST} is missing: run \`npx pnpm@10.34.9 build\` first`);
  });

  beforeEach(async () => {
    tcp = net.createServer();
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  });

  afterEach(async () => {
    for (const pid of started) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone.
      }
    }
    started.clear();
    if (tcp.listening) await new Promise((resolve) => tcp.close(resolve));
  });

  /** Runs CHILD_SCRIPT with `fds` at 3.., optionally an IPC channel after them, optionally under `sh -c`. */
  function supervisedChild(
    fds: number[],
    env: Record<string, string>,
    options: { ipc: boolean; wrapper?: boolean },
  ): Promise<ChildReport> {
    const node = [process.execPath, '-e', CHILD_SCRIPT, '{}'];
    // `; exit $?` keeps sh from exec-ing node: node runs as the shell's child, one level further down.
    const [file, ...args] = options.wrapper ? ['/bin/sh', '-c', '"$0" "$1" "$2" "$3"; exit $?', ...node] : node;
    const child = spawn(file as string, args, {
      env: cleanEnv(env),
      stdio: ['ignore', 'pipe', 'pipe', ...fds, ...(options.ipc ? ['ipc' as const] : [])],
    });
    if (child.pid !== undefined) started.add(child.pid);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    return new Promise<ChildReport>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no report in ${CHILD_WAIT_MS} ms; stderr: ${stderr}`)),
        CHILD_WAIT_MS,
      );
      child.stdout?.on('data', () => {
        if (!stdout.includes('\n')) return;
        clearTimeout(timer);
        const r = JSON.parse(stdout.split('\n')[0] as string) as ChildReport;
        started.add(r.pid);
        resolve(r);
      });
      child.once('exit', () =>
        setTimeout(() => reject(new Error(`child exited without a report; stderr: ${stderr}`)), 100),
      );
    });
  }

  test('a worker as baton run starts it (parent = supervisor, IPC channel): adopts the socket', async () => {
    const r = await supervisedChild([handleFd(tcp)], workerEnv(['given:http'], process.pid), { ipc: true });
    expect(r).toMatchObject({ ok: true, ppid: process.pid });
    expect(r.inheritance).toEqual({
      source: 'supervisor',
      supervisorPid: process.pid,
      sockets: [{ fd: 3, name: 'given:http', claimed: false }],
    });
  });

  test('behind a wrapper script (sh -c, no exec): the supervisor is the grandparent; accepted', async () => {
    const r = await supervisedChild([handleFd(tcp)], workerEnv(['given:http'], process.pid), {
      ipc: true,
      wrapper: true,
    });
    expect(r.ok).toBe(true);
    expect(r.ppid).not.toBe(process.pid);
    expect(parentOf(r.ppid)).toBe(process.pid);
    expect(r.inheritance).toMatchObject({ source: 'supervisor', supervisorPid: process.pid });
  });

  test('forged: BATON_SUPERVISOR_PID names a live process that is not an ancestor: ERR_BATON_BAD_HANDOFF', async () => {
    const bystander = spawn('sleep', ['30'], { stdio: 'ignore' });
    started.add(bystander.pid as number);
    const r = await supervisedChild([handleFd(tcp)], workerEnv(['given:http'], bystander.pid as number), { ipc: true });
    expect(r).toMatchObject({ ok: false, code: 'ERR_BATON_BAD_HANDOFF' });
    expect(r.message).toContain(
      `BATON_SUPERVISOR_PID=${bystander.pid} but that process is not an ancestor of this one (parent ${process.pid})`,
    );
  });

  test('forged: the right ancestor, but no IPC channel: ERR_BATON_BAD_HANDOFF', async () => {
    const r = await supervisedChild([handleFd(tcp)], workerEnv(['given:http'], process.pid), { ipc: false });
    expect(r).toMatchObject({ ok: false, code: 'ERR_BATON_BAD_HANDOFF' });
    expect(r.message).toContain(`BATON_SUPERVISOR_PID=${process.pid} but this process has no IPC channel`);
  });
});

/** A bound UDP socket and its descriptor, found in /proc/self/fd (dgram's _handle is deprecated). */
async function udpSocket(): Promise<{ udp: dgram.Socket; fd: number }> {
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
  const port = udp.address().port.toString(16).toUpperCase().padStart(4, '0');
  const row = fs
    .readFileSync('/proc/net/udp', 'latin1')
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .find((fields) => fields[1] === `0100007F:${port}`);
  const fd = fs
    .readdirSync('/proc/self/fd')
    .map(Number)
    .find((n) => {
      try {
        return fs.readlinkSync(`/proc/self/fd/${n}`) === `socket:[${row?.[9]}]`;
      } catch {
        return false;
      }
    });
  if (fd === undefined) throw new Error(`no descriptor for UDP port ${port}`);
  return { udp, fd };
}

(process.platform === 'linux' ? describe : describe.skip)(
  'inherited descriptors of a family net.Server cannot listen on',
  () => {
    test('a UDP socket is named as one', async () => {
      const { udp, fd } = await udpSocket();
      try {
        const ino = fs.fstatSync(fd, { bigint: true }).ino;
        expect(unsupportedSocketKind(ino)).toBe('a UDP socket');
      } finally {
        udp.close();
      }
    });

    test('a listening TCP or unix stream socket is supported', async () => {
      const server = net.createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const ino = fs.fstatSync(handleFd(server), { bigint: true }).ino;
        expect(unsupportedSocketKind(ino)).toBeUndefined();
      } finally {
        server.close();
      }
    });

    test('unix datagram and seqpacket sockets, from the kernel table (fields as /proc/net/unix has them)', () => {
      const procNet = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-procnet-'));
      try {
        fs.writeFileSync(
          path.join(procNet, 'unix'),
          [
            'Num       RefCount Protocol Flags    Type St Inode Path',
            '0000000000000000: 00000002 00000000 00000000 0002 01 111 /run/dgram.sock',
            '0000000000000000: 00000002 00000000 00010000 0005 01 222 /run/seq.sock',
            '0000000000000000: 00000002 00000000 00010000 0001 01 333 /run/stream.sock',
            '',
          ].join('\n'),
        );
        expect(unsupportedSocketKind(111n, procNet)).toBe('a unix datagram socket');
        expect(unsupportedSocketKind(222n, procNet)).toBe('a unix seqpacket socket');
        expect(unsupportedSocketKind(333n, procNet)).toBeUndefined();
        expect(unsupportedSocketKind(444n, procNet)).toBeUndefined();
      } finally {
        fs.rmSync(procNet, { recursive: true, force: true });
      }
    });

    test('an inherited UDP socket is refused with ERR_BATON_BAD_HANDOFF naming the fd (a child process)', async () => {
      const { udp, fd } = await udpSocket();
      try {
        const r = await report([fd], { LISTEN_FDS: '1' }, { listenPidSelf: true });
        expect(r).toMatchObject({ ok: false, code: 'ERR_BATON_BAD_HANDOFF' });
        expect(r.message).toContain('fd 3 is a UDP socket, not a listening TCP or unix stream socket');
      } finally {
        udp.close();
      }
    });
  },
);
