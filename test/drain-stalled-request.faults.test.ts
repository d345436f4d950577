// Issue 8, fault 11: a client that sends half a request and stalls kept a retired generation (and its
// memory) alive until the drain deadline: 20 reloads left 21 processes. Now a request still arriving
// when the drain starts gets a bounded time to arrive (5 s with Node's default headersTimeout), then
// 408 and the socket closes, and the old generation exits.
import net from 'node:net';
import path from 'node:path';
import { FIXTURES, killAll, startServer, waitForPort } from './helpers/processes';
import { DEPLOYED_ENV, exitOf, waitForOutput } from './helpers/service';

const APP = path.join(FIXTURES, 'drain-faults-app.js');
/** Far longer than the bound on a request still arriving (5 s), so the two are told apart. */
const DRAIN_TIMEOUT_MS = 60_000;

afterEach(killAll);

test('half a request, then silence: the old generation answers 408 and exits within seconds, not at its 60 s drain deadline', async () => {
  const server = startServer(APP, {
    ...DEPLOYED_ENV,
    BATON_SETTLE_MS: '0',
    BATON_DRAIN_TIMEOUT_MS: String(DRAIN_TIMEOUT_MS),
  });
  const port = await waitForPort(server);
  const socket = net.connect(port, '127.0.0.1');
  let received = '';
  let closed = false;
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (received += chunk));
  socket.on('close', () => (closed = true));
  socket.on('error', () => undefined);
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write('GET /never-finished HTTP/1.1\r\nHost: x\r\n'); // No final CRLF.

  process.kill(server.pid, 'SIGHUP');
  await waitForOutput(server, new RegExp(`^draining ${server.pid}$`, 'm'));
  const drainStarted = Date.now();
  expect(await exitOf(server, 20_000)).toEqual({ code: 0, signal: null });
  expect(Date.now() - drainStarted).toBeLessThan(20_000);
  expect(received).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
  expect(received).toMatch(/\r\nConnection: close\r\n/i);
  expect(closed).toBe(true);
  expect(server.output()).not.toMatch(/by force/);
});
