// onDrain hooks run when the drain starts (while requests are still in flight), and onExit hooks are
// awaited before the process exits, but cut at the drain budget when they hang.
import fs from 'node:fs';
import path from 'node:path';
import { request } from './helpers/http';
import { FIXTURES, isAlive, killAll, startServer, tempDir, waitForPort } from './helpers/processes';
import { DEPLOYED_ENV, exitOf, successorPidsFromLog, waitForOutput } from './helpers/service';

const HOOKS_APP = path.join(FIXTURES, 'hooks-app.js');

afterEach(killAll);

/**
 * BATON_SETTLE_MS=0: no rollback window after a reload, so the old generation drains as soon as its
 * successor is ready (the window is tested on its own; here it would only make the tests slower).
 */
async function startHooksApp(env: Record<string, string> = {}) {
  const server = startServer(HOOKS_APP, { ...DEPLOYED_ENV, BATON_SETTLE_MS: '0', ...env });
  const port = await waitForPort(server);
  return { server, port };
}

describe('onDrain runs at the start of the drain, not after it', () => {
  test.each([
    { signal: 'SIGHUP' as const, reason: 'reload' },
    { signal: 'SIGTERM' as const, reason: 'shutdown' },
  ])(
    '$signal: the hook runs (reason $reason) while the request the drain waits for is still in flight',
    async ({ signal, reason }) => {
      const { server, port } = await startHooksApp();
      // Longer than any wait before the drain starts (even a 5 s rollback window): in flight until then.
      const slow = request(port, '/slow?ms=15000');
      slow.catch(() => undefined);
      await waitForOutput(server, new RegExp(`^slow started ${server.pid}$`, 'm'));

      process.kill(server.pid, signal);
      const hookLine = new RegExp(`^onDrain reason=(\\w+) slowInFlight=(\\d+) pid=${server.pid}$`, 'm');
      const output = await waitForOutput(server, hookLine);
      successorPidsFromLog(output);
      const [, seenReason, inFlight] = hookLine.exec(output) as RegExpExecArray;
      expect(seenReason).toBe(reason);
      // The request the drain waits for had not been answered when the hook ran.
      expect(inFlight).toBe('1');
      expect(output).not.toContain(`slow finished ${server.pid}`);
      // Nor had the drain finished: the draining process is still there.
      expect(isAlive(server.pid)).toBe(true);
    },
  );
});

describe('onExit hooks', () => {
  test('a hook that awaits 300 ms completes before the process exits', async () => {
    const exitFile = path.join(tempDir(), 'exit-hook.txt');
    const { server } = await startHooksApp({ EXIT_HOOK: 'slow', EXIT_FILE: exitFile });
    await waitForOutput(server, /serving on /);

    process.kill(server.pid, 'SIGTERM');
    expect(await exitOf(server)).toEqual({ code: 0, signal: null });
    expect(fs.existsSync(exitFile) ? fs.readFileSync(exitFile, 'utf8') : '(no file: the hook was cut short)').toBe(
      `done ${server.pid}\n`,
    );
  });

  test('a hook that never resolves is cut at the budget (BATON_DRAIN_TIMEOUT_MS=1000): the process exits and says so', async () => {
    const { server } = await startHooksApp({ EXIT_HOOK: 'hang', BATON_DRAIN_TIMEOUT_MS: '1000' });
    await waitForOutput(server, /serving on /);

    const signalled = Date.now();
    process.kill(server.pid, 'SIGTERM');
    // Bounded well above the 1 s budget: a hook that is waited for without a budget never ends.
    expect(await exitOf(server, 10_000)).toEqual({ code: 0, signal: null });
    const elapsed = Date.now() - signalled;
    const output = server.output();
    expect(output).toContain(`onExit hanging ${server.pid}`);
    // `... still running after 1000 ms` or `... when the stop budget of 1000 ms ran out`: the cut, and the budget.
    expect(output).toMatch(new RegExp(`baton\\[${server.pid}\\].*onExit hooks? still running\\b.*\\b1000 ms`));
    // The budget's timer starts after the signal arrived: the process cannot have left earlier.
    expect(elapsed).toBeGreaterThanOrEqual(1000);
  });
});
