import http from 'node:http';
import path from 'node:path';
import { request } from './helpers/http';
import { FIXTURES, killAll, startServer, tempDir, waitFor, waitForPort } from './helpers/processes';
import { exitOf, freePort, writeBuild } from './helpers/service';
import { startSupervisor, waitForWorkers } from './helpers/supervisor';

// Kubernetes sends SIGTERM while the Service's endpoints still route new connections to the pod for a
// few seconds. With shutdownDelayMs the pod keeps serving them, reporting not ready, then drains.

afterEach(killAll);

const DELAY_MS = 3000;

function get(port: number, pathname: string): Promise<{ status: number } | { error: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathname, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
  });
}

test('in place: after SIGTERM, new connections are served for the whole shutdown delay, /ready turns 503 at once, then exit 0', async () => {
  const dir = tempDir();
  writeBuild(dir, '1.0');
  const server = startServer(path.join(FIXTURES, 'fault-app.js'), {
    BUILD_DIR: dir,
    BATON_SHUTDOWN_DELAY_MS: String(DELAY_MS),
  });
  const port = await waitForPort(server);
  expect((await request(port, '/ready')).status).toBe(200);

  const sentAt = Date.now();
  process.kill(server.pid, 'SIGTERM');
  // The probe flips as soon as the signal is handled.
  await waitFor(
    '/ready to answer 503',
    async () => ((await request(port, '/ready')).status === 503 ? true : undefined),
    DELAY_MS,
  );
  expect((await request(port, '/live')).status).toBe(200);

  // A new connection every 20 ms, as endpoints that have not caught up yet would send, for most of the delay.
  const results: Array<{ status: number } | { error: string }> = [];
  while (Date.now() - sentAt < DELAY_MS / 2) {
    results.push(await get(port, '/version'));
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  expect(results.length).toBeGreaterThan(0);
  expect(results.filter((r) => !('status' in r) || r.status !== 200)).toEqual([]);

  expect(await exitOf(server)).toEqual({ code: 0, signal: null });
  expect(server.output()).toMatch(
    /SIGTERM: still accepting for 3000 ms \(reporting not ready\), then draining and exiting/,
  );
  expect(server.output()).toMatch(/shutdown delay of 3000 ms over: draining and exiting/);
});

test("baton run: new connections are served through the shutdown delay, the supervisor's /ready turns 503, and during the drain a new connection is refused at once, never left hanging", async () => {
  const dir = tempDir();
  writeBuild(dir, '1.0');
  const healthPort = await freePort();
  const supervisor = startSupervisor(
    ['--workers', '2', '--shutdown-delay', `${DELAY_MS}ms`, '--health', `127.0.0.1:${healthPort}`],
    { BUILD_DIR: dir },
    [process.execPath, path.join(FIXTURES, 'fault-app.js')],
  );
  await waitForWorkers(supervisor, 2);
  const port = await waitForPort(supervisor);
  await waitFor(
    'the supervisor to say it serves',
    () => /serving with 2 workers/.test(supervisor.output()) || undefined,
  );
  expect((await request(healthPort, '/ready')).status).toBe(200);

  const sentAt = Date.now();
  process.kill(supervisor.pid, 'SIGTERM');
  await waitFor(
    '/ready to answer 503',
    async () => ((await request(healthPort, '/ready')).status === 503 ? true : undefined),
    DELAY_MS,
  );
  const during: Array<{ status: number } | { error: string }> = [];
  while (Date.now() - sentAt < DELAY_MS / 2) {
    during.push(await get(port, '/version'));
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  expect(during.filter((r) => !('status' in r) || r.status !== 200)).toEqual([]);

  // Once the delay is over the workers drain; a slow request keeps one of them busy meanwhile.
  const slow = get(port, '/slow?ms=3000');
  await waitFor('the drain', () => /shutdown delay of 3000 ms over/.test(supervisor.output()) || undefined);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const late = await get(port, '/version');
  // Refused by the kernel (or, at worst, served): a connection parked in an accept queue nobody reads
  // would instead be reset when the supervisor exits, after the slow request.
  expect('error' in late ? late.error : 'served').toMatch(/^(ECONNREFUSED|served)$/);
  expect(await slow).toEqual({ status: 200 });
  expect(await exitOf(supervisor)).toEqual({ code: 0, signal: null });
});
