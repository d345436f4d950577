// `baton verify -- <command>` against real apps: the seed's Express and Koa examples reload without
// losing a request (exit 0), and each app that loses requests around a reload in its own way is caught,
// exit 1, with the right reason on the last line. Short runs (3 reloads, 1 s of steady load, a 1 s
// settle time) keep the file short; verify's defaults are the same code with bigger numbers.
import path from 'node:path';
import net from 'node:net';
import { accountRequests, Recorder, random, routePicker } from '@baton/core/verify';
import { killAll, ROOT, spawnCollecting, tempDir } from './helpers/processes';

afterEach(killAll);

const CLI = path.join(ROOT, 'packages', 'core', 'dist', 'cli', 'main.js');
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'verify');
/** Every run is bounded by this; a short run takes 5-15 s. */
const RUN_TIMEOUT_MS = 60_000;
const SHORT = ['--reloads', '3', '--steady', '1s', '--interval', '500ms', '--tail', '1s', '--quiet'];

interface Run {
  code: number | null;
  stdout: string;
  lastLine: string;
  output: string;
}

/** Runs `baton verify ...args`; the app's processes carry the test's marker, so teardown kills them too. */
async function verify(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const run = spawnCollecting(process.execPath, [CLI, 'verify', ...args], {
    ...process.env,
    // pnpm's jest launcher sets NODE_PATH; a deployed app has none.
    NODE_PATH: '',
    BATON_SETTLE_MS: '1000',
    ...env,
  });
  let stdout = '';
  run.child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), RUN_TIMEOUT_MS)));
  const exit = await Promise.race([run.exited, timedOut]);
  clearTimeout(timer);
  if (exit === 'timeout')
    throw new Error(`baton verify ${args.join(' ')} still running after ${RUN_TIMEOUT_MS} ms:\n${run.output()}`);
  const lines = stdout.trimEnd().split('\n');
  return { code: exit.code, stdout, lastLine: lines.at(-1) ?? '', output: run.output() };
}

/** A port free on 127.0.0.1 right now, chosen by the OS (for a side server that must not use port 0). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function exampleEnv(): Record<string, string> {
  return { PORT: '0', UPGRADE_TOKEN: 'test-token', BATON_PID_FILE: path.join(tempDir(), 'app.pid') };
}

test('the Express example: 3 reloads under load, 0 failed requests, exit 0 on SIGTERM, nothing left behind: exit 0', async () => {
  const run = await verify(
    [...SHORT, '--path', '/version', '--json', '--', 'node', path.join(ROOT, 'examples', 'express', 'server.js')],
    exampleEnv(),
  );
  expect({ code: run.code, output: run.code === 0 ? '' : run.output }).toEqual({ code: 0, output: '' });
  const report = JSON.parse(run.lastLine);
  expect(report.ok).toBe(true);
  expect(report.requests.failed).toBe(0);
  expect(report.requests.total).toBeGreaterThan(0);
  // Every client kind made requests.
  for (const kind of ['undici', 'agent', 'new-connection', 'idle'])
    expect(report.requests.byKind[kind].requests).toBeGreaterThan(0);
  expect(report.reloads).toHaveLength(3);
  for (const r of report.reloads) {
    expect(r.ok).toBe(true);
    expect(r.newPids).toHaveLength(1);
    expect(r.newPids[0]).not.toBe(r.oldPids[0]);
  }
  expect(report.stop).toMatchObject({ exited: true, exitCode: 0 });
  expect(report.leftBehind).toEqual({ processes: [], listeners: [], descriptors: [] });
  expect(report.target.from).toMatch(/^status \(tcp:127\.0\.0\.1:0\)$/);
});

test('the Koa example: exit 0 and an OK verdict on the last line', async () => {
  const run = await verify(
    [...SHORT, '--path', '/version', '--', 'node', path.join(ROOT, 'examples', 'koa', 'server.js')],
    exampleEnv(),
  );
  expect({ code: run.code, lastLine: run.lastLine }).toEqual({
    code: 0,
    lastLine: expect.stringMatching(
      /^OK: [\d,]+ requests over 3 reloads, none failed; every reload succeeded; exit 0 on SIGTERM; nothing left behind$/,
    ),
  });
  expect(run.stdout).toMatch(/Reloads \(3 of 3\)/);
});

test('the Express example under baton run --workers 2: reloads asked over the control socket, exit 0', async () => {
  const run = await verify(
    [
      '--reloads',
      '2',
      '--steady',
      '1s',
      '--interval',
      '500ms',
      '--tail',
      '1s',
      '--quiet',
      '--supervised',
      '--workers',
      '2',
      '--path',
      '/version',
      '--json',
      '--',
      'node',
      path.join(ROOT, 'examples', 'express', 'server.js'),
    ],
    exampleEnv(),
  );
  expect({ code: run.code, output: run.code === 0 ? '' : run.output }).toEqual({ code: 0, output: '' });
  const report = JSON.parse(run.lastLine);
  expect(report).toMatchObject({
    ok: true,
    mode: 'supervised',
    workers: 2,
    trigger: 'control',
    requests: { failed: 0 },
  });
  for (const r of report.reloads) {
    expect(r.ok).toBe(true);
    expect(r.newPids).toHaveLength(2);
  }
  expect(report.stop).toMatchObject({ exited: true, exitCode: 0 });
});

test('a metrics server bound with a plain listen(): exit 1, the reload failed with EADDRINUSE, the fix named', async () => {
  const run = await verify([...SHORT, '--', 'node', path.join(FIXTURES, 'side-server.js')], {
    METRICS_PORT: String(await freePort()),
  });
  expect(run.code).toBe(1);
  expect(run.lastLine).toMatch(
    /^FAILED: reload 1 of 3 failed \(ERR_BATON_CHILD_EXITED\): .*exited with code 1 before it was ready\. Hint: listen EADDRINUSE 127\.0\.0\.1:\d+: .*plain server\.listen\(\).*listen\(server, \.\.\.\) from '@baton\/core'/,
  );
});

test('an app whose own SIGHUP listener closes the server: exit 1, and the last line names the SIGHUP listener', async () => {
  const run = await verify([...SHORT, '--', 'node', path.join(FIXTURES, 'sighup-closes.js')]);
  expect(run.code).toBe(1);
  // Whether this run lost requests or not (it usually does: ECONNRESET), the listener is the reason given.
  expect(run.lastLine).toMatch(
    /^FAILED: .*1 other SIGHUP listener is installed besides baton's: it runs at every reload/,
  );
});

test('an app that answers 503 for its first 300 ms: exit 1, failed requests after the reloads, the readiness fix named', async () => {
  const run = await verify([...SHORT, '--', 'node', path.join(FIXTURES, 'slow-start.js')]);
  expect(run.code).toBe(1);
  expect(run.lastLine).toMatch(
    /^FAILED: [\d,]+ of [\d,]+ requests failed \(HTTP_503 ×[\d,]+; ([\d,]+ after reload \d(, )?)+\)\. Hint: HTTP_503 right after reloads .*configure\(\{ readiness: 'manual' \}\) and call ready\(\)/,
  );
});

test('an app holding a WebSocket it never closes: exit 1, connections closed at the drain deadline, onDrain named', async () => {
  const run = await verify([...SHORT, '--', 'node', path.join(FIXTURES, 'websocket.js')], {
    BATON_DRAIN_TIMEOUT_MS: '1500',
  });
  expect(run.code).toBe(1);
  expect(run.lastLine).toMatch(
    /^FAILED: [\d,]+ connections? closed by force at the drain deadline \(1500 ms\): pid \d+ after reload 1.*Hint: .*held [\d,]+ upgraded \(WebSocket\) connections?.*onDrain/,
  );
});

test('a path the app does not serve stops the run before any reload: exit 1, the path and the status named', async () => {
  const run = await verify([...SHORT, '--path', '/nowhere', '--', 'node', path.join(FIXTURES, 'slow-start.js')]);
  expect(run.code).toBe(1);
  expect(run.lastLine).toBe(
    'FAILED: GET /nowhere answered 404 before any reload. Hint: name paths the app serves with --path (default /); any answer outside 2xx/3xx counts as a failure',
  );
});

test('usage: no command, or --workers without --supervised, exits 2; --help documents every option and the exit codes', async () => {
  expect((await verify([])).code).toBe(2);
  expect((await verify(['--workers', '2', '--', 'node', 'server.js'])).code).toBe(2);
  const help = await verify(['--help']);
  expect(help.code).toBe(0);
  for (const option of [
    '--path',
    '--url',
    '--reloads',
    '--steady',
    '--interval',
    '--tail',
    '--clients',
    '--supervised',
    '--workers',
    '--trigger',
    '--start-timeout',
    '--request-timeout',
    '--stop-timeout',
    '--app-log',
    '--json',
    '--quiet',
  ]) {
    expect(help.stdout).toContain(option);
  }
  expect(help.stdout).toMatch(/Exit codes: 0 no request failed/);
});

describe('the load accounting verify shares with the bench', () => {
  test('failures are counted by the reload they followed, latency steady against just after a reload', () => {
    const recorder = new Recorder(['undici', 'idle']);
    const signals = [10_000, 20_000];
    recorder.add('undici', 0, 5_000, 2); // steady
    recorder.add('undici', 0, 9_000, 4); // steady
    recorder.add('idle', 0, 10_500, 30, 'ECONNRESET'); // after reload 1
    recorder.add('undici', 1, 11_000, 8); // within 2 s of reload 1
    recorder.add('undici', 1, 15_000, 3); // neither steady nor just after a reload
    recorder.add('undici', 1, 20_100, 1, 'HTTP_503'); // after reload 2
    const accounting = accountRequests(recorder.toJSON(), { routes: ['/a', '/b'], signals, steadyFrom: 0 });
    expect(accounting.failedByReload).toEqual([0, 1, 1]);
    expect(accounting.failures.map((f) => [f.kind, f.code, f.route, f.reload, f.sinceSignalMs])).toEqual([
      ['idle', 'ECONNRESET', '/a', 1, 500],
      ['undici', 'HTTP_503', '/b', 2, 100],
    ]);
    expect(accounting.latency.steady).toMatchObject({ n: 2, p50: 2, p99: 4 });
    expect(accounting.latency.afterReload).toMatchObject({ n: 1, p50: 8 });
    expect(recorder.failed()).toBe(2);
    expect(recorder.total()).toBe(6);
  });

  test('routes are drawn by weight from a seeded generator: the same seed gives the same requests', () => {
    const routes = [
      { name: 'work', method: 'GET', path: '/work' },
      { name: 'slow', method: 'GET', path: '/slow' },
    ];
    const pick = routePicker(routes, { work: 0.9, slow: 0.1 });
    const draw = (seed: number): number[] => {
      const rand = random(seed);
      return Array.from({ length: 1000 }, () => pick(rand));
    };
    expect(draw(7)).toEqual(draw(7));
    const slow = draw(7).filter((i) => i === 1).length;
    expect(slow).toBeGreaterThan(50);
    expect(slow).toBeLessThan(150);
  });
});
