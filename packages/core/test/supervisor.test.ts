import { Supervisor } from '../src/supervisor/supervisor';
import type { SupervisorOptions } from '../src/supervisor/options';
import type { Logger } from '../src/logger';
import type { FakeChild } from './fakes/fake-child';
import { FakeHost } from './fakes/fake-host';

// `baton run` driven without forking: fake workers answer like real ones (ready, draining, exit) when
// the test says so. Each test names the moment it acts at.

const supervisors: Supervisor[] = [];
afterEach(async () => {
  for (const s of supervisors.splice(0)) void s.stop('test teardown');
});

function capture(): { logger: Logger; text: () => string } {
  const lines: string[] = [];
  const method = (level: string) => (_fields: Record<string, unknown>, message: string) => void lines.push(`${level} ${message}`);
  return { logger: { error: method('error'), warn: method('warn'), info: method('info'), debug: method('debug') }, text: () => lines.join('\n') };
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
    { command: ['node', 'app.js'], workers, readyTimeoutMs: 2000, drainTimeoutMs: 1000, listen: [], cwd: process.cwd(), logLevel: 'silent', ...options },
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
  test('ok: one new worker at a time, each ready before an old one retires; never fewer than N ready', async () => {
    const { host, supervisor } = await serving(2);
    const [old1, old2] = host.children;
    const reloading = supervisor.reload();

    const [, , new1] = await host.waitForChildren(3);
    expect(new1?.plan.env).toMatchObject({ BATON_SUPERVISOR_PID: '4000' });
    // While the first new worker boots, both old ones serve and neither was told to retire.
    expect(await readyCount(supervisor)).toBe(2);
    expect(orders(old1)).toEqual([]);
    new1?.sayReady(['tcp:127.0.0.1:0']);
    await until(() => old1?.hasExited === true, 'the first old worker to leave');
    expect(old2?.hasExited).toBe(false);

    const children = await host.waitForChildren(4);
    // One old worker left and one new one ready, while the second new worker boots: still two.
    expect(await readyCount(supervisor)).toBe(2);
    expect(orders(old1)).toEqual(['retire']);
    expect(orders(old2)).toEqual([]);
    children[3]?.sayReady(['tcp:127.0.0.1:0']);
    const outcome = await reloading;
    expect(outcome).toMatchObject({ mode: 'supervised', pids: [new1?.pid, children[3]?.pid], previousPids: [old1?.pid, old2?.pid] });
    await until(() => old2?.hasExited === true, 'the second old worker to leave');
    expect(await readyCount(supervisor)).toBe(2);
    expect((await supervisor.status()).lastReload).toMatchObject({ ok: true, pids: outcome.pids });
  });

  test('a new worker that exits before it is ready aborts the reload; the old workers keep serving untouched', async () => {
    const { host, supervisor } = await serving(2);
    const reloading = supervisor.reload();
    const [old1, old2, fresh] = await host.waitForChildren(3);
    fresh?.crash(1);
    await expect(reloading).rejects.toMatchObject({ code: 'ERR_BATON_CHILD_EXITED' });
    await expect(reloading).rejects.toThrow(/worker pid \d+ exited with code 1 before it was ready; the old workers keep serving/);
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
