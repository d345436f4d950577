// Issue 8, fault 13: HTTP/2 across a reload. The draining generation's single GOAWAY named the last
// stream it had seen, so streams its clients opened in that round trip were refused (REFUSED_STREAM:
// 331–498 per 30 reloads; a client that does not retry loses them). Now it drains the way RFC 9113 §6.8
// describes: a GOAWAY with last-stream-id 2^31-1, a PING round trip, then the final GOAWAY (h2c; over
// TLS Node allows no second writer, see internal/http2-sessions.ts).
import http2 from 'node:http2';
import path from 'node:path';
import { FIXTURES, killAll, startServer, waitForPort } from './helpers/processes';
import { DEPLOYED_ENV, exitOf, sleep, successorPidsFromLog, waitForOutput } from './helpers/service';

const APP = path.join(FIXTURES, 'drain-faults-app.js');
const CLIENTS = 4;
/** Streams each client opens per turn of the event loop. */
const BURST = 10;
/** A bound on the whole test's streams, should the stop never come. */
const MAX_STREAMS = 200_000;

afterEach(killAll);

interface Tally {
  sent: number;
  answered: number;
  /** REFUSED_STREAM on a stream the client did send: the server's doing. */
  refused: number;
  /** Never left the client (it saw GOAWAY first and refused them itself): no server can help that. */
  notSent: number;
  otherErrors: string[];
  /** Which generation answered how many. */
  byPid: Map<string, number>;
}

/** Opens streams in bursts on one session until the session stops taking them or `stopped()`. */
async function useSession(session: http2.ClientHttp2Session, tally: Tally, stopped: () => boolean): Promise<void> {
  const replies: Array<Promise<void>> = [];
  while (!stopped() && !session.closed && !session.destroyed && tally.sent + replies.length < MAX_STREAMS) {
    for (let i = 0; i < BURST; i++) {
      const stream = session.request({ ':path': '/' });
      let sent = true;
      let body = '';
      stream.setEncoding('utf8');
      stream.on('frameError', () => (sent = false));
      stream.on('data', (chunk: string) => (body += chunk));
      replies.push(
        new Promise<void>((resolve) => {
          stream.on('end', () => {
            tally.answered += 1;
            tally.byPid.set(body, (tally.byPid.get(body) ?? 0) + 1);
            resolve();
          });
          stream.on('error', (error: Error) => {
            if (!/REFUSED_STREAM/.test(error.message)) tally.otherErrors.push(error.message);
            else if (sent) tally.refused += 1;
            else tally.notSent += 1;
            resolve();
          });
          stream.on('close', () => resolve());
        }).then(() => {
          if (sent) tally.sent += 1;
        }),
      );
      stream.end();
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(replies);
}

/** One client: a session at a time, a new one (to whoever accepts now) when the last was told to go. */
async function client(port: number, tally: Tally, stopped: () => boolean): Promise<void> {
  while (!stopped()) {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', (error) => tally.otherErrors.push(`session: ${error.message}`));
    await new Promise((resolve) => session.once('connect', resolve));
    await useSession(session, tally, stopped);
    session.close();
  }
}

test('h2c clients opening streams in a tight loop across a reload see no REFUSED_STREAM: every stream sent is answered, by the old generation or the new', async () => {
  const server = startServer(APP, { ...DEPLOYED_ENV, BATON_SETTLE_MS: '0', PROTOCOL: 'h2c' });
  const port = await waitForPort(server);
  const tally: Tally = { sent: 0, answered: 0, refused: 0, notSent: 0, otherErrors: [], byPid: new Map() };
  let stop = false;
  const clients = Array.from({ length: CLIENTS }, () => client(port, tally, () => stop));

  await sleep(300);
  process.kill(server.pid, 'SIGHUP');
  await waitForOutput(server, new RegExp(`^draining ${server.pid}$`, 'm'));
  expect(await exitOf(server)).toEqual({ code: 0, signal: null });
  // Clients keep going on the successor for a moment, then stop.
  await sleep(300);
  stop = true;
  await Promise.all(clients);

  const [successor] = successorPidsFromLog(server.output());
  expect(tally.refused).toBe(0);
  expect(tally.otherErrors).toEqual([]);
  expect(tally.answered).toBe(tally.sent);
  expect(tally.byPid.get(`pid=${server.pid}`)).toBeGreaterThan(0);
  expect(tally.byPid.get(`pid=${successor}`)).toBeGreaterThan(0);
  expect(server.output()).not.toMatch(/by force/);
});
