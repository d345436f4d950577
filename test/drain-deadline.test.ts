// The drain deadline is BATON_DRAIN_TIMEOUT_MS (not the ready timeout), for a reload and for a stop,
// and a second SIGTERM closes what is left at once. Each case keeps a 20 s request in flight, so a
// process that waits for it instead of closing it by force is told apart by far more than any
// machine's slowness.
import net from 'node:net';
import path from 'node:path';
import { request } from './helpers/http';
import { FIXTURES, isAlive, killAll, startServer, waitFor, waitForPort } from './helpers/processes';
import { DEPLOYED_ENV, exitOf, successorPidsFromLog, waitForOutput } from './helpers/service';

const HOOKS_APP = path.join(FIXTURES, 'hooks-app.js');
const REQUEST_MS = 20_000;
/**
 * Far below REQUEST_MS, far above the 1 s budget plus starting a successor on a busy machine (and
 * even plus a 5 s rollback window after the reload, were BATON_SETTLE_MS=0 not honoured).
 */
const ENDED_WITHIN_MS = 12_000;

afterEach(killAll);

/** 'connected' or the error code of a bare TCP connection to 127.0.0.1:port. */
function connectOutcome(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setTimeout(5_000, () => socket.destroy(Object.assign(new Error('connect timed out'), { code: 'TIMEOUT' })));
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'ERROR'));
  });
}

/**
 * Starts the fixture, sends a 20 s request and waits until the server has it. BATON_SETTLE_MS=0: no
 * rollback window after a reload, so the old generation drains as soon as its successor is ready.
 */
async function serveSlowRequest(env: Record<string, string>) {
  const server = startServer(HOOKS_APP, { ...DEPLOYED_ENV, BATON_SETTLE_MS: '0', ...env });
  const port = await waitForPort(server);
  const sentAt = Date.now();
  // Settles with the reply or the error: a request closed by force must not be an unhandled rejection.
  const slow = request(port, `/slow?ms=${REQUEST_MS}`).then(
    (reply) => ({ ok: true as const, reply }),
    (error: Error) => ({ ok: false as const, error }),
  );
  await waitForOutput(server, new RegExp(`^slow started ${server.pid}$`, 'm'));
  return { server, port, sentAt, slow };
}

describe('BATON_DRAIN_TIMEOUT_MS=1000 with a larger ready timeout and a 20 s request in flight', () => {
  test.each(['SIGHUP', 'SIGTERM'] as const)(
    '%s: the old process closes the request by force at about 1 s, logs the count, and exits 0',
    async (signal) => {
      const { server, sentAt, slow } = await serveSlowRequest({
        BATON_DRAIN_TIMEOUT_MS: '1000',
        BATON_READY_TIMEOUT_MS: '20000',
      });

      process.kill(server.pid, signal);
      expect(await exitOf(server, REQUEST_MS + 5_000)).toEqual({ code: 0, signal: null });
      const endedAfter = Date.now() - sentAt;
      const output = server.output();
      if (signal === 'SIGHUP') expect(successorPidsFromLog(output)).toHaveLength(1);

      expect(output).toMatch(new RegExp(`baton\\[${server.pid}\\].*drain deadline of 1000 ms`));
      expect(output).toMatch(new RegExp(`baton\\[${server.pid}\\].*closed 1 connections? by force`));
      const outcome = await slow;
      expect(outcome.ok).toBe(false);
      expect(endedAfter).toBeLessThan(ENDED_WITHIN_MS);
    },
  );
});

test('a second SIGTERM closes the connections left at once and exits, without waiting for the drain', async () => {
  // The drain budget is longer than the request: only the second signal can end it early.
  const { server, port, sentAt, slow } = await serveSlowRequest({ BATON_DRAIN_TIMEOUT_MS: '30000' });

  process.kill(server.pid, 'SIGTERM');
  // The first SIGTERM has been handled once the listening socket refuses new connections.
  await waitFor(
    'the listening socket to be closed',
    async () => (await connectOutcome(port)) === 'ECONNREFUSED' || undefined,
  );
  expect(isAlive(server.pid)).toBe(true);
  process.kill(server.pid, 'SIGTERM');

  // Exited on its own (not killed by the signal), long before the request would have been answered.
  const exit = await exitOf(server, REQUEST_MS + 5_000);
  const endedAfter = Date.now() - sentAt;
  expect(exit.signal).toBeNull();
  expect(server.output()).toMatch(new RegExp(`baton\\[${server.pid}\\].*SIGTERM again: closed 1 connections?`));
  const outcome = await slow;
  expect(outcome.ok).toBe(false);
  expect(endedAfter).toBeLessThan(ENDED_WITHIN_MS);
});
