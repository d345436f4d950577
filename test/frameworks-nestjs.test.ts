// NestJS 11 with baton, for real (fixture: test/fixtures/frameworks/nestjs.js): the recipe
//   await app.init(); listen(app.getHttpServer(), port, host); onExit(() => app.close());
// reloaded under keep-alive load, and what Nest's own shutdown hooks do next to baton's signals.
import path from 'node:path';
import { killAll, startServer } from './helpers/processes';
import { exitOf, waitForOutput } from './helpers/service';
import {
  FRAMEWORKS,
  newConnectionsAfterSigterm,
  reloadUnderLoad,
  SIGNAL_COLLISION,
} from './fixtures/frameworks/reload-under-load';

afterEach(killAll);

test('without enableShutdownHooks: 2 reloads under keep-alive load, no failed request, /version follows the build; Nest shutdown hooks run at each exit', async () => {
  const { output, generations } = await reloadUnderLoad('nestjs.js', { env: { NEST_SHUTDOWN_HOOKS: 'none' } });
  // onExit(() => app.close()) runs onModuleDestroy / onApplicationShutdown in every generation.
  for (const { pid } of generations) expect(output).toMatch(new RegExp(`nest shutdown ${pid}\\b`));
  expect(output).not.toMatch(SIGNAL_COLLISION);
});

test("with app.enableShutdownHooks(['SIGTERM', 'SIGINT']): a reload under keep-alive load loses nothing, no warning", async () => {
  const { output } = await reloadUnderLoad('nestjs.js', { env: { NEST_SHUTDOWN_HOOKS: 'term-int' }, reloads: 1 });
  expect(output).not.toMatch(SIGNAL_COLLISION);
});

test('app.enableShutdownHooks() with no arguments takes SIGHUP too: baton warns signal-collision (JSON log), naming the fix', async () => {
  const server = startServer(path.join(FRAMEWORKS, 'nestjs.js'), {
    NEST_SHUTDOWN_HOOKS: 'all',
    BATON_LOG_FORMAT: 'json',
  });
  const output = await waitForOutput(server, /"event":"signal-collision"/);
  const warning = output.split('\n').find((line) => line.includes('"event":"signal-collision"')) as string;
  expect(JSON.parse(warning)).toMatchObject({ level: 'warn', event: 'signal-collision', pid: server.pid });
  expect(warning).toContain('1 other SIGHUP listener is installed');
});

test('SIGTERM with a shutdown delay, without Nest shutdown hooks: every new connection is served through the delay, then exit 0 after Nest shut down', async () => {
  const { failed, sent, server } = await newConnectionsAfterSigterm(
    'nestjs.js',
    { NEST_SHUTDOWN_HOOKS: 'none', BATON_SHUTDOWN_DELAY_MS: '2000' },
    1000,
  );
  expect(sent).toBeGreaterThan(0);
  expect(failed).toEqual([]);
  expect(await exitOf(server)).toEqual({ code: 0, signal: null });
  expect(server.output()).toMatch(new RegExp(`nest shutdown ${server.pid}\\b`));
});

test("SIGTERM with a shutdown delay, with enableShutdownHooks(['SIGTERM', 'SIGINT']): Nest closes the server at once, so new connections are refused during the delay", async () => {
  const { failed, server } = await newConnectionsAfterSigterm(
    'nestjs.js',
    { NEST_SHUTDOWN_HOOKS: 'term-int', BATON_SHUTDOWN_DELAY_MS: '2000' },
    1000,
  );
  // Nest's SIGTERM handler runs app.close() (http.Server.close) at once, then sends SIGTERM again,
  // which baton takes as the second signal: whatever is still open is closed at once.
  expect(failed.length).toBeGreaterThan(0);
  await exitOf(server);
  expect(server.output()).toMatch(/SIGTERM again: closed \d+ connections at once/);
});
