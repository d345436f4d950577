import net from 'node:net';
import { Supervisor } from '../src/supervisor/supervisor';
import type { SupervisorOptions } from '../src/supervisor/options';
import type { Logger } from '../src/logger';
import { Worker } from '../src/supervisor/worker';
import { FakeChild } from './fakes/fake-child';
import { FakeHost } from './fakes/fake-host';

// `baton run` driven without forking: fake workers answer like real ones (ready, draining, exit) when
// the test says so. Each test names the moment it acts at.

const supervisors: Supervisor[] = [];
afterEach(async () => {
  for (const s of supervisors.splice(0)) void s.stop('test teardown');
});

function capture(): { logger: Logger; text: () => string } {
  const lines: string[] = [];
  const method = (level: string) => (_fields: Record<string, unknown>, message: string) =>
    void lines.push(`${level} ${message}`);
  return {
    logger: { error: method('error'), warn: method('warn'), info: method('info'), debug: method('debug') },
    text: () => lines.join('\n'),
  };
}

const NO_CONNECTIONS = { sockets: 0, activeRequests: 0, idle: 0, upgraded: 0 };

/** What the supervisor told a worker to do, leaving out status requests. */
function orders(child: FakeChild | undefined): string[] {
  return (child?.sent ?? []).map((s) => (s.message as { baton: string }).baton).filter((b) => b !== 'status-request');
}

/**
 * A worker that answers like a real one: its status when asked; told to retire, it reports draining
 * and exits 0 a turn later.
 */
function politeWorker(child: FakeChild): void {
  child.onSent = (message) => {
    const m = message as { baton?: string; id?: number };
    if (m.baton === 'status-request') child.say({ baton: 'status', id: m.id, status: { connections: NO_CONNECTIONS } });
    if (m.baton !== 'retire') return;
    setImmediate(() => {
      child.say({ baton: 'draining', connections: NO_CONNECTIONS });
      child.say({ baton: 'drained', durationMs: 1, forced: 0 });
      child.crash(0);
    });
  };
}

async function until(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`still waiting for ${what} after ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function serving(workers: number, options: Partial<SupervisorOptions> = {}) {
  const host = new FakeHost({ pid: 4000 });
  host.onSpawn = politeWorker;
  const log = capture();
  const supervisor = new Supervisor(
    // No settle time unless a test asks for one: most tests are about other steps.
    {
      command: ['node', 'app.js'],
      workers,
      readyTimeoutMs: 2000,
      drainTimeoutMs: 1000,
      settleMs: 0,
      listen: [],
      cwd: process.cwd(),
      logLevel: 'silent',
      ...options,
    },
    host,
  );
  supervisor.log.use(log.logger);
  supervisors.push(supervisor);
  await supervisor.start();
  for (let i = 0; i < workers; i += 1) {
    const children = await host.waitForChildren(i + 1);
    children[i]?.sayReady(['tcp:127.0.0.1:0']);
  }
  await until(() => log.text().includes(`serving with ${workers} worker`), 'serving');
  return { host, log, supervisor };
}

async function readyCount(supervisor: Supervisor): Promise<number> {
  return (await supervisor.status()).workers.ready;
}

describe('rolling reload', () => {
  test('ok: the new workers start one at a time next to the old ones; no old worker retires before every new one has stayed up the settle time', async () => {
    const settleMs = 300;
    const { host, supervisor, log } = await serving(2, { settleMs });
    const [old1, old2] = host.children;
    // When each old worker was told to retire.
    const retiredAt = new Map<FakeChild | undefined, number>();
    for (const old of [old1, old2]) {
      const polite = old?.onSent;
      if (old)
        old.onSent = (message) => {
          if ((message as { baton?: string }).baton === 'retire') retiredAt.set(old, Date.now());
          polite?.(message);
        };
    }
    const reloading = supervisor.reload();

    const [, , new1] = await host.waitForChildren(3);
    expect(new1?.plan.env).toMatchObject({ BATON_SUPERVISOR_PID: '4000' });
    // While the first new worker boots, both old ones serve and neither was told anything.
    expect(await readyCount(supervisor)).toBe(2);
    new1?.sayReady(['tcp:127.0.0.1:0']);
    const children = await host.waitForChildren(4);
    // The second new worker boots next to all the others: 3 ready, no old worker told to retire.
    expect(await readyCount(supervisor)).toBe(3);
    expect(orders(old1)).toEqual([]);
    expect(orders(old2)).toEqual([]);
    // Taken before the ready message: the supervisor's own clock reads the same or later when it arrives.
    const lastReadyAt = Date.now();
    children[3]?.sayReady(['tcp:127.0.0.1:0']);
    const outcome = await reloading;
    expect(outcome).toMatchObject({
      mode: 'supervised',
      pids: [new1?.pid, children[3]?.pid],
      previousPids: [old1?.pid, old2?.pid],
    });
    expect(outcome.durationMs).toBeGreaterThanOrEqual(settleMs);
    // Lower bounds only: an old worker is never told to retire before the newest was up the settle time.
    // (A timer may fire a millisecond early by Date.now(); nothing here depends on how fast the machine is.)
    for (const old of [old1, old2]) expect(retiredAt.get(old)).toBeGreaterThanOrEqual(lastReadyAt + settleMs - 2);
    expect(log.text()).toMatch(
      /2 new workers ready; waiting \d+ ms \(settle time 300 ms\) before retiring the old ones/,
    );
    await until(() => old1?.hasExited === true && old2?.hasExited === true, 'the old workers to leave');
    expect(await readyCount(supervisor)).toBe(2);
    expect((await supervisor.status()).lastReload).toMatchObject({ ok: true, pids: outcome.pids });
  });

  test('a new worker that crashes after it was ready, during the settle time, aborts the reload; the old workers were never told to retire', async () => {
    const { host, supervisor, log } = await serving(2, { settleMs: 60_000 });
    const [old1, old2] = host.children;
    const reloading = supervisor.reload();
    const [, , new1] = await host.waitForChildren(3);
    new1?.sayReady(['tcp:127.0.0.1:0']);
    const [, , , new2] = await host.waitForChildren(4);
    new2?.sayReady(['tcp:127.0.0.1:0']);
    await until(() => log.text().includes('before retiring the old ones'), 'the settle wait');
    // The build dies on its first requests: well inside the 60 s settle time.
    new1?.crash(1);
    await expect(reloading).rejects.toMatchObject({ code: 'ERR_BATON_ROLLED_BACK', pid: new1?.pid, exitCode: 1 });
    await expect(reloading).rejects.toThrow(
      new RegExp(
        `^new worker pid ${new1?.pid} exited with code 1 \\d+ ms after it was ready \\(settle time 60000 ms\\); stopped the 1 new worker of generation 2 still running \\(${new2?.pid}\\); the old workers keep serving$`,
      ),
    );
    // The old ones: never told anything, still the N ready workers. The other new one: retired politely.
    expect(orders(old1)).toEqual([]);
    expect(orders(old2)).toEqual([]);
    expect(orders(new2)).toEqual(['retire']);
    await until(() => new2?.hasExited === true, 'the other new worker to leave');
    // Its exit reaches the supervisor a turn later, as in Node.
    for (let i = 0; i < 3; i += 1) await new Promise((resolve) => setImmediate(resolve));
    const status = await supervisor.status();
    expect(status).toMatchObject({
      health: 'serving',
      phase: 'serving',
      workers: { wanted: 2, ready: 2, starting: 0, draining: 0 },
      restarts: 0,
    });
    expect(status.generations.map((g) => g.pid).sort()).toEqual([old1?.pid, old2?.pid].sort());
    expect(status.lastReload).toMatchObject({ ok: false, code: 'ERR_BATON_ROLLED_BACK' });
    // Said once in the log, and no crash-restart of the new build was scheduled.
    expect(log.text().match(/reload failed/g)).toHaveLength(1);
    expect(host.children).toHaveLength(4);
  });

  test('a new worker that dies while the next one boots: the booting one is killed, the old ones untouched; the next reload works', async () => {
    const { host, supervisor } = await serving(2, { settleMs: 50 });
    const [old1, old2] = host.children;
    const reloading = supervisor.reload();
    const [, , new1] = await host.waitForChildren(3);
    new1?.sayReady(['tcp:127.0.0.1:0']);
    const [, , , new2] = await host.waitForChildren(4);
    new1?.exit({ code: null, signal: 'SIGSEGV' });
    await expect(reloading).rejects.toThrow(
      /^new worker pid \d+ was killed by SIGSEGV \d+ ms after it was ready .*; stopped the 1 new worker of generation 2 still running \(\d+\); the old workers keep serving$/,
    );
    expect(new2?.killed).toBe(true);
    expect(orders(old1)).toEqual([]);
    expect(orders(old2)).toEqual([]);
    expect(await readyCount(supervisor)).toBe(2);

    // A good build next: the reload works (the failure left nothing behind).
    const again = supervisor.reload();
    const [, , , , a] = await host.waitForChildren(5);
    a?.sayReady(['tcp:127.0.0.1:0']);
    const [, , , , , b] = await host.waitForChildren(6);
    b?.sayReady(['tcp:127.0.0.1:0']);
    expect(await again).toMatchObject({ pids: [a?.pid, b?.pid], previousPids: [old1?.pid, old2?.pid] });
    expect(orders(old1)).toEqual(['retire']);
    expect(orders(old2)).toEqual(['retire']);
  });

  test('an old worker that crashed during a reload that then fails: the message says capacity is short and how it is refilled', async () => {
    const { host, supervisor } = await serving(2, { settleMs: 60_000 });
    const [, old2] = host.children;
    const reloading = supervisor.reload();
    const [, , new1] = await host.waitForChildren(3);
    old2?.crash(1);
    new1?.sayReady(['tcp:127.0.0.1:0']);
    await host.waitForChildren(4);
    new1?.crash(1);
    await expect(reloading).rejects.toThrow(
      /the old workers keep serving \(1 of 2 ready; replacements for the others start from the command on disk, which is the new build\)$/,
    );
    // The crash-restart logic refills, after the reload, from the command on disk.
    await host.waitForChildren(5);
    expect((await supervisor.status()).restarts).toBe(1);
  });

  test('SIGTERM during the settle time stops the reload and the service', async () => {
    const { host, supervisor, log } = await serving(1, { settleMs: 60_000 });
    const reloading = supervisor.reload();
    const [, fresh] = await host.waitForChildren(2);
    fresh?.sayReady(['tcp:127.0.0.1:0']);
    await until(() => log.text().includes('before retiring the old ones'), 'the settle wait');
    host.signal('SIGTERM');
    await expect(reloading).rejects.toMatchObject({ code: 'ERR_BATON_RETIRING' });
    expect(await supervisor.done).toBe(0);
    expect(host.children.every((c) => c.hasExited)).toBe(true);
  });

  test('a new worker that exits before it is ready aborts the reload; the old workers keep serving untouched', async () => {
    const { host, supervisor } = await serving(2);
    const reloading = supervisor.reload();
    const [old1, old2, fresh] = await host.waitForChildren(3);
    fresh?.crash(1);
    await expect(reloading).rejects.toMatchObject({ code: 'ERR_BATON_CHILD_EXITED' });
    await expect(reloading).rejects.toThrow(
      /worker pid \d+ exited with code 1 before it was ready; the old workers keep serving/,
    );
    expect(orders(old1)).toEqual([]);
    expect(orders(old2)).toEqual([]);
    expect(await readyCount(supervisor)).toBe(2);
    expect((await supervisor.status()).lastReload).toMatchObject({ ok: false, code: 'ERR_BATON_CHILD_EXITED' });
  });

  test('a new worker that is never ready is killed at the ready timeout; the reload fails with ERR_BATON_READY_TIMEOUT', async () => {
    const { host, supervisor } = await serving(1, { readyTimeoutMs: 50 });
    const reloading = supervisor.reload();
    const [, fresh] = await host.waitForChildren(2);
    await expect(reloading).rejects.toMatchObject({ code: 'ERR_BATON_READY_TIMEOUT' });
    expect(fresh?.killed).toBe(true);
    expect(await readyCount(supervisor)).toBe(1);
  });

  test('an old worker that crashes while its replacement boots: the reload still ends with N new workers', async () => {
    const { host, supervisor } = await serving(2);
    const reloading = supervisor.reload();
    const [, old2, new1] = await host.waitForChildren(3);
    old2?.crash(1);
    new1?.sayReady(['tcp:127.0.0.1:0']);
    const children = await host.waitForChildren(4);
    children[3]?.sayReady(['tcp:127.0.0.1:0']);
    const outcome = await reloading;
    expect(outcome.pids).toEqual([new1?.pid, children[3]?.pid]);
    await until(() => host.children.filter((c) => !c.hasExited).length === 2, 'two live workers');
    expect(await readyCount(supervisor)).toBe(2);
  });

  test('a SIGHUP storm runs one rolling reload', async () => {
    const { host, supervisor, log } = await serving(1);
    for (let i = 0; i < 10; i += 1) host.signal('SIGHUP');
    const [, fresh] = await host.waitForChildren(2);
    fresh?.sayReady(['tcp:127.0.0.1:0']);
    await until(() => log.text().includes('reload done'), 'the reload');
    for (let i = 0; i < 3; i += 1) await new Promise((resolve) => setImmediate(resolve));
    expect(host.children).toHaveLength(2);
    expect(log.text().match(/SIGHUP ignored: a reload is already in progress/g)).toHaveLength(9);
    expect((await supervisor.status()).workers.ready).toBe(1);
  });
});

describe('health and crash loops', () => {
  test('status derives serving, degraded and down from the workers ready now', async () => {
    const { host, supervisor } = await serving(2);
    const [a, b] = host.children;
    expect(await supervisor.status()).toMatchObject({
      health: 'serving',
      phase: 'serving',
      workers: { wanted: 2, ready: 2 },
    });

    a?.crash(1);
    // Its replacement starts after the backoff and is not ready yet: one of two serve.
    const [, , replacement] = await host.waitForChildren(3);
    expect(await supervisor.status()).toMatchObject({
      health: 'degraded',
      phase: 'degraded',
      workers: { wanted: 2, ready: 1, starting: 1 },
    });

    b?.crash(1);
    await until(() => b?.hasExited === true, 'the second crash');
    for (let i = 0; i < 3; i += 1) await new Promise((resolve) => setImmediate(resolve));
    expect(await supervisor.status()).toMatchObject({
      health: 'down',
      phase: 'down',
      workers: { wanted: 2, ready: 0 },
    });

    replacement?.sayReady(['tcp:127.0.0.1:0']);
    const [, , , fourth] = await host.waitForChildren(4);
    fourth?.sayReady(['tcp:127.0.0.1:0']);
    await until(() => host.children.filter((c) => !c.hasExited).length === 2, 'two workers');
    for (let i = 0; i < 3; i += 1) await new Promise((resolve) => setImmediate(resolve));
    expect(await supervisor.status()).toMatchObject({
      health: 'serving',
      phase: 'serving',
      workers: { wanted: 2, ready: 2 },
      restarts: 2,
    });
  });

  test('before the first workers are ready the service is down (phase starting)', async () => {
    const host = new FakeHost({ pid: 4001 });
    host.onSpawn = politeWorker;
    const supervisor = new Supervisor(
      {
        command: ['node', 'app.js'],
        workers: 2,
        readyTimeoutMs: 2000,
        drainTimeoutMs: 1000,
        listen: [],
        cwd: process.cwd(),
        logLevel: 'silent',
      },
      host,
    );
    supervisors.push(supervisor);
    await supervisor.start();
    await host.waitForChildren(1);
    expect(await supervisor.status()).toMatchObject({
      health: 'down',
      phase: 'starting',
      workers: { wanted: 2, ready: 0, starting: 1 },
    });
  });

  test('a SIGKILL from outside does not grow the backoff; crashes do', async () => {
    const { host, supervisor, log } = await serving(1);
    const delays = (): number[] =>
      [...log.text().matchAll(/starting a replacement in (\d+) ms/g)].map((m) => Number(m[1]));
    let seen = 1;
    const next = async (): Promise<FakeChild> => {
      seen += 1;
      const children = await host.waitForChildren(seen);
      const child = children[seen - 1] as FakeChild;
      child.sayReady(['tcp:127.0.0.1:0']);
      return child;
    };

    // Killed by someone else twice (the supervisor sent no signal): replaced at once, not a crash.
    host.children[0]?.exit({ code: null, signal: 'SIGKILL' });
    const second = await next();
    second.exit({ code: null, signal: 'SIGTERM' });
    const third = await next();
    expect(log.text()).toMatch(
      /killed by SIGKILL while serving; starting a replacement in 0 ms \(the signal came from outside baton: not counted as a crash\)/,
    );
    // Then the build crashes on its own, twice: the backoff starts from its first step, as if the kills never happened.
    third.crash(1);
    const fourth = await next();
    fourth.exit({ code: null, signal: 'SIGABRT' });
    await next();
    expect(delays()).toEqual([0, 0, 100, 200]);
    expect((await supervisor.status()).restarts).toBe(4);
  });

  test('a kill is from outside unless the supervisor sent that signal itself', () => {
    const worker = new Worker(new FakeChild({ role: 'worker', file: 'node', args: [], cwd: '/', env: {}, fds: [] }), 1);
    expect(worker.killedFromOutside({ signal: 'SIGKILL' })).toBe(true);
    expect(worker.killedFromOutside({ signal: 'SIGTERM' })).toBe(true);
    // The worker's own faults are crashes, whoever raised them.
    expect(worker.killedFromOutside({ signal: 'SIGSEGV' })).toBe(false);
    expect(worker.killedFromOutside({ signal: null })).toBe(false);
    worker.signal('SIGTERM');
    expect(worker.killedFromOutside({ signal: 'SIGTERM' })).toBe(false);
    void worker.kill();
    expect(worker.killedFromOutside({ signal: 'SIGKILL' })).toBe(false);
  });
});

describe('crashes and stop', () => {
  test('a worker that crashes while serving is replaced', async () => {
    const { host, supervisor, log } = await serving(1);
    host.children[0]?.crash(1);
    const [, replacement] = await host.waitForChildren(2);
    replacement?.sayReady(['tcp:127.0.0.1:0']);
    await until(() => log.text().includes('while serving; starting a replacement'), 'the crash log');
    expect((await supervisor.status()).restarts).toBe(1);
  });

  test('SIGTERM retires every worker, and the supervisor is done with exit code 0', async () => {
    const { host, supervisor } = await serving(2);
    host.signal('SIGTERM');
    expect(await supervisor.done).toBe(0);
    expect(host.children.every((c) => c.hasExited)).toBe(true);
    expect(host.notifications).toContainEqual({ STOPPING: 1 });
  });
});

/** A client socket as it arrives over IPC, on a fake libuv handle that records readStop(). */
function arrivingSocket(): { socket: net.Socket; handle: { reading: boolean; stops: number } } {
  const socket = new net.Socket();
  const handle = {
    reading: true,
    stops: 0,
    readStop(): number {
      this.stops += 1;
      return 0;
    },
    readStart: () => 0,
    close: (callback?: () => void) => callback?.(),
  };
  (socket as unknown as { _handle: unknown })._handle = handle;
  return { socket, handle };
}

function connectionsSent(child: FakeChild | undefined): unknown[] {
  return (child?.sent ?? [])
    .filter((s) => (s.message as { baton: string }).baton === 'connection')
    .map((s) => s.handle);
}

describe('connections handed over at a reload (issue 13)', () => {
  test('a retiring worker hands over its idle connections: each stops reading at once, goes to the new worker, is confirmed to the sender, and its husk here is destroyed', async () => {
    const { host, supervisor } = await serving(1);
    const [old] = host.children;
    const arrived: Array<ReturnType<typeof arrivingSocket> & { stoppedAtOnce: boolean }> = [];
    const polite = old?.onSent;
    if (old)
      old.onSent = (message) => {
        const m = message as { baton?: string; moveConnections?: boolean };
        if (m.baton === 'retire') {
          expect(m).toEqual({ baton: 'retire', reason: 'reload', moveConnections: true });
          for (let i = 0; i < 4; i += 1) {
            const one = arrivingSocket();
            old.say({ baton: 'connection', key: 'tcp:127.0.0.1:0' }, one.socket);
            // Checked on the same turn: the supervisor must not read a byte of the client's next request.
            arrived.push({ ...one, stoppedAtOnce: one.handle.stops === 1 && !one.handle.reading });
          }
        }
        polite?.(message);
      };
    const reloading = supervisor.reload();
    (await host.waitForChildren(2))[1]?.sayReady(['tcp:127.0.0.1:0']);
    await reloading;
    await until(() => old?.hasExited === true, 'the old worker to leave');
    const [, fresh] = host.children;
    expect(arrived.map((a) => a.stoppedAtOnce)).toEqual([true, true, true, true]);
    expect(connectionsSent(fresh)).toEqual(arrived.map((a) => a.socket));
    expect(orders(old).filter((o) => o === 'connection-received')).toHaveLength(4);
    await until(() => arrived.every((a) => a.socket.destroyed), 'the husks to be destroyed');
  });

  test('the moves spread over the new workers: each goes to the one that has received the fewest; only to workers that serve its key', async () => {
    const { host, supervisor } = await serving(2);
    const [old1, old2] = host.children;
    const hands = (old: FakeChild | undefined, count: number, key = 'tcp:127.0.0.1:0'): void => {
      const polite = old?.onSent;
      if (old)
        old.onSent = (message) => {
          if ((message as { baton?: string }).baton === 'retire')
            for (let i = 0; i < count; i += 1) old.say({ baton: 'connection', key }, arrivingSocket().socket);
          polite?.(message);
        };
    };
    hands(old1, 5);
    hands(old2, 1);
    const reloading = supervisor.reload();
    (await host.waitForChildren(3))[2]?.sayReady(['tcp:127.0.0.1:0']);
    (await host.waitForChildren(4))[3]?.sayReady(['tcp:127.0.0.1:0']);
    await reloading;
    const [, , new1, new2] = host.children;
    expect([connectionsSent(new1).length, connectionsSent(new2).length]).toEqual([3, 3]);
    // A key the new workers do not serve: nobody takes it.
    const { socket } = arrivingSocket();
    new1?.say({ baton: 'connection', key: 'tcp:127.0.0.1:9' }, socket);
    expect(socket.destroyed).toBe(true);
    expect(connectionsSent(new2)).toHaveLength(3);
  });

  test('with no other ready worker to take it, a handed-over connection is closed here (the client reconnects), and still confirmed', async () => {
    const { host, log } = await serving(1);
    const [only] = host.children;
    const { socket, handle } = arrivingSocket();
    only?.say({ baton: 'connection', key: 'tcp:127.0.0.1:0' }, socket);
    expect(handle.stops).toBe(1);
    expect(socket.destroyed).toBe(true);
    expect(orders(only)).toEqual(['connection-received']);
    expect(log.text()).toMatch(
      /no ready worker serves tcp:127.0.0.1:0 for a connection worker \d+ handed over; closed/,
    );
  });

  test('a stop drains politely: the retire message does not offer to take connections', async () => {
    const { host, supervisor } = await serving(1);
    host.signal('SIGTERM');
    expect(await supervisor.done).toBe(0);
    expect(host.children[0]?.sent.map((s) => s.message)).toContainEqual({ baton: 'retire', reason: 'shutdown' });
  });
});
