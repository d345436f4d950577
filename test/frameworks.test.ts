// The recipes of the README's "With your framework" table that need no adapter, run for real (fixtures
// in test/fixtures/frameworks/): reloaded with SIGHUP onto a new build under keep-alive load, no client
// sees an error and /version follows the build. And the libraries next to baton that own signals or
// servers of their own: terminus and lightship. Fastify: frameworks-fastify.test.ts; NestJS:
// frameworks-nestjs.test.ts.
import path from 'node:path';
import { killAll, readPid, startServer, tempDir } from './helpers/processes';
import { exitOf, freePort, waitForOutput, writeBuild } from './helpers/service';
import {
  FRAMEWORKS,
  newConnectionsAfterSigterm,
  reloadUnderLoad,
  SIDE_SERVER,
  SIGNAL_COLLISION,
} from './fixtures/frameworks/reload-under-load';

afterEach(killAll);

test('Hono 4: listen(createAdaptorServer({ fetch: app.fetch }), port): 2 reloads under keep-alive load, no failed request', async () => {
  await reloadUnderLoad('hono.js');
});

describe("terminus: createTerminus(server, { signals: ['SIGTERM'], beforeShutdown }) next to baton", () => {
  test('2 reloads under keep-alive load: no failed request (terminus does not take SIGHUP)', async () => {
    const { output } = await reloadUnderLoad('terminus.js');
    expect(output).not.toMatch(SIGNAL_COLLISION);
  });

  test("SIGTERM: new connections are served through the delay only when both terminus's beforeShutdown and BATON_SHUTDOWN_DELAY_MS wait", async () => {
    // Each one alone: the other closes the server at SIGTERM (baton's drain, terminus's server.stop()).
    const terminusOnly = await newConnectionsAfterSigterm('terminus.js', { TERMINUS_DELAY_MS: '1500' }, 1000);
    expect(terminusOnly.failed.length).toBeGreaterThan(0);
    const batonOnly = await newConnectionsAfterSigterm('terminus.js', { BATON_SHUTDOWN_DELAY_MS: '1500' }, 1000);
    expect(batonOnly.failed.length).toBeGreaterThan(0);
    const both = await newConnectionsAfterSigterm(
      'terminus.js',
      { TERMINUS_DELAY_MS: '1500', BATON_SHUTDOWN_DELAY_MS: '1500' },
      1000,
    );
    expect(both.sent).toBeGreaterThan(0);
    expect(both.failed).toEqual([]);
    // Whoever finishes first ends the process: baton exits once its drain is done, so terminus's
    // onSignal may not run (clean-up belongs in baton's onExit).
    expect(await exitOf(both.server)).toEqual({ code: 0, signal: null });
  });
});

describe('lightship next to baton', () => {
  test('as its README shows it (probe server on a fixed port, default signals): baton warns side-server and signal-collision, and a reload fails on the probe port', async () => {
    const dir = tempDir();
    const pidFile = path.join(dir, 'app.pid');
    writeBuild(dir, '1.0');
    const probePort = await freePort();
    const server = startServer(path.join(FRAMEWORKS, 'lightship.js'), {
      BUILD_DIR: dir,
      BATON_PID_FILE: pidFile,
      LIGHTSHIP_SETUP: 'default',
      PROBE_PORT: String(probePort),
    });
    const output = await waitForOutput(server, SIDE_SERVER);
    expect(output).toContain(`0.0.0.0:${probePort} is bound with a plain server.listen(), outside baton`);
    expect(output).toMatch(SIGNAL_COLLISION);

    // The successor's lightship cannot bind the probe port the old generation still holds (lightship's
    // own SIGHUP handler closes it only after its 5 s shutdownDelay): it crashes, and the reload fails.
    writeBuild(dir, '1.1');
    process.kill(server.pid, 'SIGHUP');
    await waitForOutput(server, /reload failed, still serving as pid/);
    expect(server.output()).toMatch(new RegExp(`EADDRINUSE.*0\\.0\\.0\\.0:${probePort}`));
    expect(readPid(pidFile)).toBe(server.pid);
  });

  test('fixed (signals: [], its probe server listened through baton, shutdown from onExit): 2 reloads under keep-alive load, no failed request, no warning, probe port handed over', async () => {
    const probePort = await freePort();
    const { output, generations } = await reloadUnderLoad('lightship.js', {
      env: { LIGHTSHIP_SETUP: 'fixed', PROBE_PORT: String(probePort) },
    });
    expect(output).not.toMatch(SIGNAL_COLLISION);
    expect(output).not.toMatch(SIDE_SERVER);
    // Both sockets, the probe port and the app's, went to every successor; lightship's shutdown handlers ran at each exit.
    expect(output).toMatch(new RegExp(`ready .* on tcp:127\\.0\\.0\\.1:${probePort}, tcp:127\\.0\\.0\\.1:0`));
    for (const { pid } of generations) expect(output).toMatch(new RegExp(`lightship shutdown handler ${pid}\\b`));
  });
});
