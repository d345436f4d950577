import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { isBatonError } from '../src/errors';
import { Generation } from '../src/generation/generation';
import { InPlaceUpstream } from '../src/generation/in-place';
import { SupervisedUpstream } from '../src/generation/supervised';
import type { Logger } from '../src/logger';
import { readPidFile } from '../src/internal/pid-file';
import type { Inheritance } from '../src/wire/handoff-env';
import { FAKE_SCRIPT, FakeHost, FakeParent } from './fakes/fake-host';

// The state machine of one serving process, driven without forking: a fake host (signals, exit,
// spawn, systemd) and fake children, real servers on port 0. Each test names the moment it acts at.

const NONE: Inheritance = { source: 'none', sockets: [] };

interface Logged {
  level: string;
  event: unknown;
  message: string;
}

function capture(): { logger: Logger; lines: Logged[]; text: () => string } {
  const lines: Logged[] = [];
  const method =
    (level: string) =>
    (fields: Record<string, unknown>, message: string): void =>
      void lines.push({ level, event: fields.event, message });
  return {
    logger: { error: method('error'), warn: method('warn'), info: method('info'), debug: method('debug') },
    lines,
    text: () => lines.map((l) => `${l.level} ${String(l.event)}: ${l.message}`).join('\n'),
  };
}

const servers: http.Server[] = [];
const tmpDirs: string[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
  for (const dir of tmpDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-generation-'));
  tmpDirs.push(dir);
  return dir;
}

/** A generation in place with one http server on 127.0.0.1:0, ready. */
async function servingInPlace(
  options: { readyTimeoutMs?: number; drainTimeoutMs?: number; pidFile?: string; handler?: http.RequestListener } = {},
) {
  const host = new FakeHost();
  const log = capture();
  const generation = new Generation(host, new InPlaceUpstream(host, NONE), NONE);
  generation.configure({
    logger: log.logger,
    readyTimeoutMs: options.readyTimeoutMs ?? 5000,
    drainTimeoutMs: options.drainTimeoutMs ?? 5000,
    ...(options.pidFile ? { pidFile: options.pidFile } : {}),
  });
  const server = http.createServer(options.handler ?? ((_req, res) => res.end('ok')));
  servers.push(server);
  generation.listen(server, [0, '127.0.0.1']);
  await waitFor(() => generation.status().phase === 'serving', 'serving');
  const port = (server.address() as net.AddressInfo).port;
  return { host, log, generation, server, port };
}

async function waitFor(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`still waiting for ${what} after ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        let body = '';
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

describe('in place: reload', () => {
  test('ok: the successor gets the same socket at fd 3 with the handoff variables; once it is ready this generation drains and exits 0', async () => {
    const { host, generation, server } = await servingInPlace();
    const reloading = generation.reload();
    const [child] = await host.waitForChildren(1);
    const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
    expect(child?.plan.fds).toEqual([fd]);
    expect(child?.plan.env).toMatchObject({
      LISTEN_FDS: '1',
      LISTEN_FDNAMES: encodeURIComponent('tcp:127.0.0.1:0'),
      BATON_PREDECESSOR_PID: '1000',
    });
    expect(child?.plan.args).toEqual([FAKE_SCRIPT]);
    expect(generation.status().phase).toBe('reloading');
    // Invariant 2: still accepting until the successor is ready.
    expect(server.listening).toBe(true);

    child?.sayReady();
    await expect(reloading).resolves.toMatchObject({ pid: child?.pid, previousPid: 1000 });
    expect(generation.status()).toMatchObject({
      phase: 'retiring',
      successorPid: child?.pid,
      lastReload: { ok: true, pid: child?.pid },
    });
    expect(await host.waitForExit()).toBe(0);
    expect(server.listening).toBe(false);
    // Told once this generation stopped accepting (the successor then takes the pid file), then let go.
    expect(child?.sent.map((s) => s.message)).toEqual([{ baton: 'handed-over' }]);
    expect(child?.released).toBe(true);
  });

  test('the successor exits before it is ready: reload() rejects ERR_BATON_CHILD_EXITED, nothing changed, and the next reload works', async () => {
    const { host, generation, server, port } = await servingInPlace();
    const first = generation.reload();
    const [child] = await host.waitForChildren(1);
    child?.crash(3);
    await expect(first).rejects.toMatchObject({ code: 'ERR_BATON_CHILD_EXITED', pid: child?.pid, exitCode: 3 });
    expect(generation.status()).toMatchObject({
      phase: 'serving',
      lastReload: { ok: false, code: 'ERR_BATON_CHILD_EXITED' },
    });
    expect(server.listening).toBe(true);
    expect(await get(port)).toBe('ok');
    expect(host.exits).toEqual([]);

    // Not wedged (endless's bug): the next reload starts a new successor and completes.
    const second = generation.reload();
    const children = await host.waitForChildren(2);
    children[1]?.sayReady();
    await expect(second).resolves.toMatchObject({ pid: children[1]?.pid });
  });

  test('ready timeout: the successor is killed, reload() rejects ERR_BATON_READY_TIMEOUT naming its pid and the timeout', async () => {
    const { host, generation, server } = await servingInPlace({ readyTimeoutMs: 50 });
    const reloading = generation.reload();
    const [child] = await host.waitForChildren(1);
    const error = await reloading.catch((e: unknown) => e);
    expect(isBatonError(error, 'ERR_BATON_READY_TIMEOUT')).toBe(true);
    expect((error as Error).message).toBe(`next generation pid ${child?.pid} not ready after 50 ms; killed it`);
    expect(child?.killed).toBe(true);
    expect(server.listening).toBe(true);
    expect(generation.status().phase).toBe('serving');
  });

  test('a successor that cannot be started at all (spawn throws E2BIG) is ERR_BATON_SPAWN_FAILED with the cause', async () => {
    const { host, generation } = await servingInPlace();
    host.failNextSpawn = Object.assign(new Error('spawn E2BIG'), { code: 'E2BIG' });
    const error = await generation.reload().catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'ERR_BATON_SPAWN_FAILED',
      message: 'cannot start next generation (/usr/bin/node): spawn E2BIG',
    });
    expect((error as Error).cause).toMatchObject({ code: 'E2BIG' });
    expect(generation.status().phase).toBe('serving');
  });

  test('a SIGHUP storm starts one successor; the calls made meanwhile share its outcome', async () => {
    const { host, generation, log } = await servingInPlace();
    for (let i = 0; i < 10; i += 1) host.signal('SIGHUP');
    const shared = [generation.reload(), generation.reload()];
    const [child] = await host.waitForChildren(1);
    child?.sayReady();
    const results = await Promise.all(shared);
    expect(results[0]).toBe(results[1]);
    for (let i = 0; i < 5; i += 1) host.signal('SIGHUP');
    await host.waitForExit();
    expect(host.children).toHaveLength(1);
    expect(log.text()).toMatch(/SIGHUP ignored: a reload is already in progress/);
    expect(log.text()).toMatch(/SIGHUP ignored: pid 1000 is retiring \(pid \d+ serves now\)/);
    await expect(generation.reload()).rejects.toMatchObject({ code: 'ERR_BATON_RETIRING' });
  });

  test('after a handover the old generation leaves the pid file alone: the successor may be writing it as the old one exits', async () => {
    const pidFile = path.join(tempDir(), 'app.pid');
    const { host, generation } = await servingInPlace({ pidFile });
    const reloading = generation.reload();
    const [child] = await host.waitForChildren(1);
    child?.sayReady();
    await reloading;
    expect(await host.waitForExit()).toBe(0);
    // Still naming the old pid here (a fake successor writes nothing); removing it now would race the real one.
    expect(readPidFile(pidFile)).toBe(1000);
  });

  test('the pid file changes only when the successor is ready, and a failed successor that wrote it is undone', async () => {
    const dir = tempDir();
    const pidFile = path.join(dir, 'app.pid');
    const { host, generation } = await servingInPlace({ pidFile });
    expect(readPidFile(pidFile)).toBe(1000);
    const reloading = generation.reload();
    const [child] = await host.waitForChildren(1);
    // The successor wrote its pid (as a real one does at its own ready), then died before saying so.
    fs.writeFileSync(pidFile, `${child?.pid}\n`);
    child?.crash(1);
    await expect(reloading).rejects.toMatchObject({ code: 'ERR_BATON_CHILD_EXITED' });
    expect(readPidFile(pidFile)).toBe(1000);
  });

  test('SIGTERM while a successor starts: it is killed at once, reload() rejects, and this generation drains and exits 0', async () => {
    const { host, generation, log } = await servingInPlace();
    const reloading = generation.reload();
    const [child] = await host.waitForChildren(1);
    host.signal('SIGTERM');
    expect(child?.killed).toBe(true);
    await expect(reloading).rejects.toMatchObject({
      code: 'ERR_BATON_RETIRING',
      message: `reload cancelled by SIGTERM: next generation pid ${child?.pid} was killed before it took over`,
    });
    expect(await host.waitForExit()).toBe(0);
    expect(log.text()).toMatch(/SIGTERM: killing next generation pid \d+, which was still starting/);
  });

  test('SIGTERM that arrives while the ready message is being handled still wins: the successor is killed, the service stops', async () => {
    const { host, generation } = await servingInPlace();
    const reloading = generation.reload();
    const [child] = await host.waitForChildren(1);
    child?.sayReady();
    host.signal('SIGTERM');
    await expect(reloading).rejects.toMatchObject({ code: 'ERR_BATON_RETIRING' });
    expect(child?.killed).toBe(true);
    expect(await host.waitForExit()).toBe(0);
  });
});

describe('in place: the next generation starts as the operator started the first', () => {
  test('from the logical directory, with the script as typed, and the environment the service was started with', async () => {
    const dir = fs.realpathSync(tempDir());
    fs.writeFileSync(path.join(dir, 'server.js'), '');
    const host = new FakeHost({
      cwd: dir,
      script: path.join(dir, 'server.js'),
      scriptAsGiven: 'server.js',
      env: { FROM_DOTENV: 'old value', PATH_LIKE: 'x:x:x:/bin' },
      initialEnv: { PATH_LIKE: '/bin', LISTEN_FDS: '1', BATON_PREDECESSOR_PID: '7' },
    });
    const generation = new Generation(host, new InPlaceUpstream(host, NONE), NONE);
    generation.configure({ logger: capture().logger });
    const server = http.createServer();
    servers.push(server);
    generation.listen(server, [0, '127.0.0.1']);
    await waitFor(() => generation.status().phase === 'serving', 'serving');
    const reloading = generation.reload();
    const [child] = await host.waitForChildren(1);
    expect(child?.plan.cwd).toBe(dir);
    expect(child?.plan.args).toEqual(['server.js']);
    // Nothing the app (or dotenv) put in process.env, no stale handoff variable: the initial ones, and ours.
    expect(child?.plan.env).toEqual({
      PATH_LIKE: '/bin',
      ...{ LISTEN_FDS: '1', LISTEN_FDNAMES: encodeURIComponent('tcp:127.0.0.1:0'), BATON_PREDECESSOR_PID: '1000' },
    });
    child?.crash(1);
    await expect(reloading).rejects.toMatchObject({ code: 'ERR_BATON_CHILD_EXITED' });

    // The opt-out: this process's current environment.
    generation.configure({ successorEnv: 'current' });
    const second = generation.reload();
    const children = await host.waitForChildren(2);
    expect(children[1]?.plan.env).toMatchObject({ FROM_DOTENV: 'old value', PATH_LIKE: 'x:x:x:/bin' });
    children[1]?.crash(1);
    await expect(second).rejects.toMatchObject({ code: 'ERR_BATON_CHILD_EXITED' });
  });

  test('a script that is gone (the release directory was deleted): ERR_BATON_SPAWN_FAILED naming the path, nothing spawned', async () => {
    const dir = fs.realpathSync(tempDir());
    fs.writeFileSync(path.join(dir, 'server.js'), '');
    const host = new FakeHost({ cwd: dir, script: path.join(dir, 'server.js'), scriptAsGiven: 'server.js' });
    const generation = new Generation(host, new InPlaceUpstream(host, NONE), NONE);
    generation.configure({ logger: capture().logger });
    const server = http.createServer();
    servers.push(server);
    generation.listen(server, [0, '127.0.0.1']);
    await waitFor(() => generation.status().phase === 'serving', 'serving');
    fs.rmSync(path.join(dir, 'server.js'));
    await expect(generation.reload()).rejects.toMatchObject({
      code: 'ERR_BATON_SPAWN_FAILED',
      message: `cannot start next generation: script ${path.join(dir, 'server.js')} does not exist (started as server.js in ${dir})`,
    });
    expect(host.children).toHaveLength(0);
    expect(generation.status().phase).toBe('serving');
  });
});

describe('in place: the rollback window', () => {
  /** A listening handle standing in for the copy a real successor sends back over IPC. */
  async function socketCopy(): Promise<{ handle: unknown; port: number }> {
    const copy = net.createServer();
    await new Promise<void>((resolve) => copy.listen(0, '127.0.0.1', resolve));
    const handle = (copy as unknown as { _handle: unknown })._handle;
    // Detach the handle from its server, as a handle received over IPC has none.
    (copy as unknown as { _handle: unknown })._handle = null;
    return { handle, port: portOf(handle) };
  }
  function portOf(handle: unknown): number {
    const out: { port?: number } = {};
    (handle as { getsockname: (o: object) => void }).getsockname(out);
    return out.port as number;
  }

  async function handedOverWithCopy(settleMs: number, pidFile?: string) {
    const svc = await servingInPlace(pidFile ? { pidFile } : {});
    svc.generation.configure({ settleMs });
    const reloading = svc.generation.reload();
    const [child] = await svc.host.waitForChildren(1);
    const copy = await socketCopy();
    child?.say({ baton: 'listener', key: 'tcp:127.0.0.1:0' }, copy.handle);
    child?.sayReady(['tcp:127.0.0.1:0']);
    const result = await reloading;
    return { ...svc, child, copy, result };
  }

  test('the successor dies within the settle time: this generation accepts again, rewrites the pid file, and a later reload works', async () => {
    const pidFile = path.join(tempDir(), 'app.pid');
    const { host, generation, server, child, copy, log } = await handedOverWithCopy(60_000, pidFile);
    expect(generation.status().phase).toBe('standby');
    expect(server.listening).toBe(false);
    fs.writeFileSync(pidFile, `${child?.pid}\n`);

    child?.crash(1);
    await waitFor(() => generation.status().phase === 'serving', 'serving again');
    expect(server.listening).toBe(true);
    expect(portOf((server as unknown as { _handle: unknown })._handle)).toBe(copy.port);
    expect(await get(copy.port)).toBe('ok');
    expect(readPidFile(pidFile)).toBe(1000);
    expect(generation.status().lastReload).toMatchObject({
      ok: false,
      code: 'ERR_BATON_ROLLED_BACK',
      message: expect.stringMatching(
        /^rolled back: next generation pid \d+ exited with code 1 \d+ ms after it was ready; pid 1000 serves again$/,
      ),
    });
    expect(log.text()).toMatch(/error rolled-back: rolled back/);
    expect(host.notifications).toContainEqual({ MAINPID: 1000, READY: 1 });
    expect(host.exits).toEqual([]);

    const again = generation.reload();
    const children = await host.waitForChildren(2);
    children[1]?.sayReady();
    await expect(again).resolves.toMatchObject({ pid: children[1]?.pid });
  });

  test('the successor stays up for the settle time: this generation drains and exits 0, and lets the successor go', async () => {
    const { host, child, log } = await handedOverWithCopy(30);
    expect(await host.waitForExit()).toBe(0);
    expect(child?.released).toBe(true);
    expect(child?.killed).toBe(false);
    expect(log.text()).toMatch(/standing by for 30 ms/);
    expect(log.text()).toMatch(/stayed up 30 ms; draining/);
  });

  test('SIGTERM during the settle time: drain and exit now; the successor keeps serving', async () => {
    const { host, child, generation } = await handedOverWithCopy(60_000);
    host.signal('SIGTERM');
    expect(await host.waitForExit()).toBe(0);
    expect(child?.killed).toBe(false);
    expect(child?.released).toBe(true);
    child?.crash(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(generation.status().phase).toBe('retiring');
  });

  test('settleMs 0: no window; the old generation drains at once', async () => {
    const { host, log } = await handedOverWithCopy(0);
    expect(await host.waitForExit()).toBe(0);
    expect(log.text()).not.toMatch(/standing by/);
  });
});

describe('in place: idle connections move to the successor (issue 13)', () => {
  /** A keep-alive client that made one request and is idle now; resolves once answered. */
  async function idleClient(port: number): Promise<{ agent: http.Agent; peer: net.Socket }> {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const peer = await new Promise<net.Socket>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(req.socket as net.Socket));
      });
      req.on('error', reject);
    });
    return { agent, peer };
  }

  test('the drain sends each idle connection over the successor channel, keyed by its listener, and counts it', async () => {
    const svc = await servingInPlace();
    const { agent } = await idleClient(svc.port);
    const reloading = svc.generation.reload();
    const [child] = await svc.host.waitForChildren(1);
    child?.sayReady(['tcp:127.0.0.1:0']);
    await reloading;
    await waitFor(() => svc.generation.status().connectionsMoved?.out === 1, 'one connection moved');
    const moved = child?.sent.filter((s) => (s.message as { baton: string }).baton === 'connection') ?? [];
    expect(moved.map((s) => s.message)).toEqual([{ baton: 'connection', key: 'tcp:127.0.0.1:0' }]);
    expect(moved[0]?.handle).toBeInstanceOf(net.Socket);
    expect(await svc.host.waitForExit()).toBe(0);
    expect(svc.log.text()).toMatch(
      /drained in \d\.\d s; moved 1 connection to the next generation, 0 closed here; exiting/,
    );
    expect(svc.generation.status().connections.sockets).toBe(0);
    agent.destroy();
  });

  test('migrateConnections false: nothing is sent, the idle connection stays here until it expires', async () => {
    const svc = await servingInPlace();
    svc.generation.configure({ settleMs: 60_000, migrateConnections: false });
    const { agent } = await idleClient(svc.port);
    const reloading = svc.generation.reload();
    const [child] = await svc.host.waitForChildren(1);
    child?.sayReady(['tcp:127.0.0.1:0']);
    await reloading;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(child?.sent.map((s) => (s.message as { baton: string }).baton)).not.toContain('connection');
    expect(svc.generation.status().connections.sockets).toBe(1);
    expect(svc.generation.status().connectionsMoved).toEqual({ in: 0, out: 0 });
    agent.destroy();
  });

  test('a successor serves a connection its predecessor sends, on the listener with that key', async () => {
    const parent = new FakeParent();
    const host = new FakeHost({ parent });
    const inheritance: Inheritance = { source: 'baton', sockets: [], predecessorPid: 999 };
    const generation = new Generation(host, new InPlaceUpstream(host, inheritance), inheritance);
    generation.configure({ logger: capture().logger });
    const server = http.createServer((_req, res) => res.end('served by the successor'));
    servers.push(server);
    generation.listen(server, [0, '127.0.0.1']);
    await waitFor(() => generation.status().phase === 'serving', 'serving');
    // A connection accepted elsewhere (standing in for the predecessor's), handed over as a socket.
    const elsewhere = net.createServer();
    await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
    const accepted = new Promise<net.Socket>((resolve) => elsewhere.once('connection', resolve));
    const client = net.connect((elsewhere.address() as net.AddressInfo).port, '127.0.0.1');
    const socket = await accepted;
    parent.say({ baton: 'connection', key: 'tcp:127.0.0.1:0' }, socket);
    expect(generation.status().connectionsMoved).toEqual({ in: 1, out: 0 });
    const answer = new Promise<string>((resolve) => {
      let text = '';
      client.on('data', (chunk) => {
        text += chunk.toString();
        if (text.endsWith('served by the successor')) resolve(text);
      });
    });
    client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await answer).toMatch(/^HTTP\/1\.1 200 OK/);
    client.destroy();
    elsewhere.close();
  });
});

describe('in place: a successor whose predecessor died while it started', () => {
  test('serves alone: no message to the dead predecessor, systemd hears its MAINPID, a warning says what happened', async () => {
    const parent = new FakeParent();
    parent.connected = false;
    const host = new FakeHost({ parent });
    const log = capture();
    const inheritance: Inheritance = { source: 'baton', sockets: [], predecessorPid: 999, predecessorGone: true };
    const generation = new Generation(host, new InPlaceUpstream(host, inheritance), inheritance);
    generation.configure({ logger: log.logger });
    const server = http.createServer((_req, res) => res.end('ok'));
    servers.push(server);
    generation.listen(server, [0, '127.0.0.1']);
    await waitFor(() => generation.status().phase === 'serving', 'serving');
    expect(parent.sent).toEqual([]);
    expect(host.notifications).toContainEqual({ MAINPID: 1000, READY: 1 });
    expect(log.text()).toMatch(
      /warn predecessor-gone: pid 999 died while this generation started; serving in its place/,
    );
    expect(generation.status()).toMatchObject({ mode: 'successor', predecessorPid: 999 });
  });
});

describe('in place: stop', () => {
  /** A server whose requests hang until the test ends them; resolves once one is in flight. */
  async function withRequestInFlight(options: { drainTimeoutMs?: number } = {}) {
    const pending: http.ServerResponse[] = [];
    const svc = await servingInPlace({ ...options, handler: (_req, res) => void pending.push(res) });
    const client = new http.Agent({ keepAlive: true });
    const response = new Promise<string>((resolve) => {
      http
        .get({ host: '127.0.0.1', port: svc.port, path: '/', agent: client }, (res) => {
          res.resume();
          res.on('end', () => resolve('answered'));
          res.on('error', () => resolve('cut'));
        })
        .on('error', () => resolve('cut'));
    });
    await waitFor(() => pending.length === 1, 'a request in flight');
    return { ...svc, pending, response, client };
  }

  test('SIGTERM drains politely: the request in flight is answered, then exit 0', async () => {
    const { host, generation, pending, response, client } = await withRequestInFlight();
    host.signal('SIGTERM');
    await waitFor(() => generation.status().phase === 'retiring', 'retiring');
    pending[0]?.end('late');
    expect(await response).toBe('answered');
    expect(await host.waitForExit()).toBe(0);
    client.destroy();
  });

  test('the drain deadline is drainTimeoutMs (not readyTimeoutMs): a stuck request is cut and counted', async () => {
    const { host, log, response, client } = await withRequestInFlight({ drainTimeoutMs: 100 });
    host.signal('SIGTERM');
    expect(await host.waitForExit(3000)).toBe(0);
    expect(await response).toBe('cut');
    expect(log.text()).toMatch(
      /warn drained: drain deadline of 100 ms reached: closed 1 connections by force; exiting/,
    );
    client.destroy();
  });

  test('a second SIGTERM closes every connection at once and exits', async () => {
    const { host, log, response, client } = await withRequestInFlight({ drainTimeoutMs: 60_000 });
    host.signal('SIGTERM');
    host.signal('SIGTERM');
    expect(host.exits).toEqual([0]);
    expect(await response).toBe('cut');
    expect(log.text()).toMatch(/SIGTERM again: closed 1 connections at once; exiting/);
    client.destroy();
  });

  test('onDrain hooks run when the drain starts, while a request is still in flight', async () => {
    const { host, generation, pending, response, client } = await withRequestInFlight();
    const seen: Array<{ reason: string; inFlight: number }> = [];
    generation.onDrain(
      ({ reason }) => void seen.push({ reason, inFlight: generation.status().connections.activeRequests }),
    );
    host.signal('SIGTERM');
    await waitFor(() => seen.length === 1, 'the onDrain hook');
    expect(seen).toEqual([{ reason: 'shutdown', inFlight: 1 }]);
    expect(host.exits).toEqual([]);
    pending[0]?.end('done');
    await response;
    await host.waitForExit();
    client.destroy();
  });

  test('onExit hooks are awaited before exit, and one that hangs is cut at the drain budget', async () => {
    const { host, generation, log } = await servingInPlace({ drainTimeoutMs: 200 });
    const order: string[] = [];
    generation.onExit(async () => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      order.push('slow hook done');
    });
    generation.onExit(() => new Promise(() => undefined));
    host.signal('SIGTERM');
    await host.waitForExit();
    order.push('exit');
    expect(order).toEqual(['slow hook done', 'exit']);
    expect(log.text()).toMatch(/onExit hooks still running when the stop budget of 200 ms ran out; exiting anyway/);
  });
});

describe('supervised worker', () => {
  async function servingWorker() {
    const parent = new FakeParent();
    const host = new FakeHost({ parent });
    const log = capture();
    const inheritance: Inheritance = { source: 'supervisor', sockets: [], supervisorPid: 77 };
    const generation = new Generation(host, new SupervisedUpstream(host, parent, 77), inheritance);
    generation.configure({ logger: log.logger, drainTimeoutMs: 1000 });
    const server = http.createServer((_req, res) => res.end('ok'));
    servers.push(server);
    generation.listen(server, [0, '127.0.0.1']);
    await waitFor(() => generation.status().phase === 'serving', 'serving');
    return { parent, host, log, generation, server };
  }

  test('says hello, sends the socket it bound, then ready with its keys', async () => {
    const { parent } = await servingWorker();
    expect(parent.sent.map((m) => m.baton)).toEqual(['hello', 'listener', 'ready']);
    expect(parent.sent[2]).toEqual({ baton: 'ready', pid: 1000, keys: ['tcp:127.0.0.1:0'] });
  });

  test('reload() asks the supervisor; its answer settles the promise; retire drains and exits 0', async () => {
    const { parent, host, generation, server } = await servingWorker();
    const reloading = generation.reload();
    await waitFor(() => parent.sent.some((m) => m.baton === 'reload'), 'the reload request');
    const id = (parent.sent.find((m) => m.baton === 'reload') as { id: number }).id;
    parent.say({ baton: 'retire', reason: 'reload' });
    parent.say({ baton: 'reload-result', id, ok: true, result: { pid: 2, previousPid: 1000, readyMs: 5 } });
    await expect(reloading).resolves.toEqual({ pid: 2, previousPid: 1000, readyMs: 5 });
    expect(await host.waitForExit()).toBe(0);
    expect(parent.sent.map((m) => m.baton)).toEqual(expect.arrayContaining(['draining', 'drained']));
    expect(server.listening).toBe(false);
  });

  test('a failed rolling reload reaches the worker with its code', async () => {
    const { parent, generation } = await servingWorker();
    const reloading = generation.reload();
    await waitFor(() => parent.sent.some((m) => m.baton === 'reload'), 'the reload request');
    const id = (parent.sent.find((m) => m.baton === 'reload') as { id: number }).id;
    parent.say({
      baton: 'reload-result',
      id,
      ok: false,
      error: { code: 'ERR_BATON_READY_TIMEOUT', message: 'worker pid 9 not ready' },
    });
    await expect(reloading).rejects.toMatchObject({
      code: 'ERR_BATON_READY_TIMEOUT',
      message: 'worker pid 9 not ready',
    });
    expect(generation.status().phase).toBe('serving');
  });

  test('the supervisor disappears: the worker drains and exits instead of running on unmanaged', async () => {
    const { parent, host, log } = await servingWorker();
    parent.disconnect();
    expect(await host.waitForExit()).toBe(0);
    expect(log.text()).toMatch(/supervisor pid 77 is gone; draining and exiting/);
  });
});

describe('stopping gracefully next to a load balancer', () => {
  test('shutdownDelayMs: after SIGTERM it keeps accepting and serving but reports not ready, then drains and exits 0', async () => {
    const { host, generation, server, port, log } = await servingInPlace();
    generation.configure({ shutdownDelayMs: 150 });
    expect(generation.health()).toEqual({ ready: true, live: true, phase: 'serving' });
    host.signal('SIGTERM');
    expect(generation.health()).toEqual({ ready: false, live: true, phase: 'stopping' });
    expect(server.listening).toBe(true);
    expect(await get(port)).toBe('ok');
    await expect(generation.reload()).rejects.toMatchObject({ code: 'ERR_BATON_RETIRING' });
    expect(await host.waitForExit()).toBe(0);
    expect(log.text()).toMatch(
      /SIGTERM: still accepting for 150 ms \(reporting not ready\), then draining and exiting/,
    );
    expect(log.text()).toMatch(/shutdown delay of 150 ms over: draining and exiting/);
  });

  test('a reload is not delayed by shutdownDelayMs', async () => {
    const { host, generation } = await servingInPlace();
    generation.configure({ shutdownDelayMs: 60_000 });
    const reloading = generation.reload();
    const [child] = await host.waitForChildren(1);
    child?.sayReady();
    await reloading;
    expect(await host.waitForExit()).toBe(0);
  });

  test('onDrain hooks are awaited: the process exits after a slow hook, and a hung one is cut at the drain deadline', async () => {
    const { host, generation, log } = await servingInPlace({ drainTimeoutMs: 200 });
    const order: string[] = [];
    generation.onDrain(async () => {
      await new Promise((resolve) => setTimeout(resolve, 60));
      order.push('slow hook done');
    });
    generation.onDrain(() => new Promise(() => undefined));
    host.signal('SIGTERM');
    await host.waitForExit();
    order.push('exit');
    expect(order).toEqual(['slow hook done', 'exit']);
    expect(log.text()).toMatch(/onDrain hooks still running when the drain deadline of 200 ms ran out; going on/);
  });
});

describe('neighbours that break reloads are named, with the fix', () => {
  test('another SIGHUP listener (NestJS enableShutdownHooks()): one warning, not one per reload', async () => {
    const host = new FakeHost();
    host.appSignalListeners.set('SIGHUP', 1);
    const log = capture();
    const generation = new Generation(host, new InPlaceUpstream(host, NONE), NONE);
    generation.configure({ logger: log.logger });
    const server = http.createServer();
    servers.push(server);
    generation.listen(server, [0, '127.0.0.1']);
    await waitFor(() => generation.status().phase === 'serving', 'serving');
    const reloading = generation.reload();
    const [child] = await host.waitForChildren(1);
    child?.crash(1);
    await reloading.catch(() => undefined);
    const warnings = log.lines.filter((l) => l.event === 'signal-collision');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toMatch(
      /^1 other SIGHUP listener is installed besides baton's: .*NestJS: leave enableShutdownHooks\(\) out and call app\.close\(\) in onExit\(\)/,
    );
  });

  test('another SIGTERM listener (terminus, NestJS shutdown hooks): one warning saying the drain can be cut short', async () => {
    const host = new FakeHost();
    host.appSignalListeners.set('SIGTERM', 2);
    const log = capture();
    const generation = new Generation(host, new InPlaceUpstream(host, NONE), NONE);
    generation.configure({ logger: log.logger });
    const server = http.createServer();
    servers.push(server);
    generation.listen(server, [0, '127.0.0.1']);
    await waitFor(() => generation.status().phase === 'serving', 'serving');
    const warnings = log.lines.filter((l) => l.event === 'signal-collision');
    expect(warnings.map((w) => w.message)).toEqual([
      expect.stringMatching(
        /^2 other SIGTERM listeners are installed besides baton's: one that closes the server or exits cuts baton's polite drain short/,
      ),
    ]);
  });

  test('a side server bound with a plain listen() is named with its address and the fix (one on port 0 cannot collide)', async () => {
    const side = net.createServer();
    const portZero = net.createServer();
    await new Promise<void>((resolve) => portZero.listen(0, '127.0.0.1', resolve));
    const fixed = (portZero.address() as net.AddressInfo).port;
    portZero.close();
    // A fixed port, as a metrics server has; one asked for with port 0 is left alone.
    await new Promise<void>((resolve) => side.listen(fixed, '127.0.0.1', resolve));
    const random = net.createServer();
    await new Promise<void>((resolve) => random.listen(0, '127.0.0.1', resolve));
    try {
      const host = new FakeHost();
      const log = capture();
      const generation = new Generation(host, new InPlaceUpstream(host, NONE), NONE);
      generation.configure({ logger: log.logger });
      const server = http.createServer();
      servers.push(server);
      host.handles = [server, side, random];
      generation.listen(server, [0, '127.0.0.1']);
      await waitFor(() => generation.status().phase === 'serving', 'serving');
      const port = (side.address() as net.AddressInfo).port;
      const warning = log.lines.find((l) => l.event === 'side-server');
      expect(warning?.message).toMatch(
        new RegExp(
          `^127\\.0\\.0\\.1:${port} is bound with a plain server\\.listen\\(\\), outside baton: .*EADDRINUSE.*listen\\(server, \\.\\.\\.\\)`,
        ),
      );
    } finally {
      side.close();
      random.close();
    }
  });

  test('a successor that dies of EADDRINUSE on an address its predecessor holds says why', async () => {
    const parent = new FakeParent();
    const host = new FakeHost({ parent });
    const log = capture();
    const inheritance: Inheritance = { source: 'baton', sockets: [], predecessorPid: 999 };
    const generation = new Generation(host, new InPlaceUpstream(host, inheritance), inheritance);
    generation.configure({ logger: log.logger });
    const server = http.createServer();
    servers.push(server);
    generation.listen(server, [0, '127.0.0.1']);
    const error = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:9100'), {
      code: 'EADDRINUSE',
      address: '127.0.0.1',
      port: 9100,
    });
    for (const handler of host.uncaughtHandlers) handler(error);
    expect(log.text()).toMatch(
      /error address-in-use: listen EADDRINUSE 127\.0\.0\.1:9100: pid 999, the generation this one replaces, still holds it because it was bound with a plain server\.listen\(\)/,
    );
  });
});

describe('a successor tells its predecessor it is ready', () => {
  test('copies of its sockets first, then systemd hears MAINPID, then the predecessor hears "ready"; the pid file once it stopped accepting', async () => {
    const pidFile = path.join(tempDir(), 'app.pid');
    fs.writeFileSync(pidFile, '999\n');
    const parent = new FakeParent();
    const host = new FakeHost({ parent, env: { BATON_PID_FILE: pidFile } });
    let letSystemdHear!: () => void;
    host.notifyGate = new Promise((resolve) => (letSystemdHear = resolve));
    const inheritance: Inheritance = { source: 'baton', sockets: [], predecessorPid: 999 };
    const generation = new Generation(host, new InPlaceUpstream(host, inheritance), inheritance);
    generation.configure({ logger: capture().logger });
    const server = http.createServer();
    servers.push(server);
    generation.listen(server, [0, '127.0.0.1']);
    await waitFor(() => host.notifications.length === 1, 'the MAINPID notification');
    expect(host.notifications[0]).toEqual({ MAINPID: 1000, READY: 1 });
    // systemd has not confirmed yet: the predecessor (which exits after "ready") has not been told.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(parent.sent.map((m) => m.baton)).toEqual(['listener']);
    letSystemdHear();
    await waitFor(() => parent.sent.length === 2, 'the ready message');
    expect(parent.sent[1]).toEqual({ baton: 'ready', pid: 1000, keys: ['tcp:127.0.0.1:0'] });
    // Whoever reads the pid file now must reach this generation: not before the predecessor stopped accepting.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(readPidFile(pidFile)).toBe(999);
    parent.say({ baton: 'handed-over' });
    await waitFor(() => readPidFile(pidFile) === 1000, 'the pid file to name this generation');
  });
});
