import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { HAS_OPENSSL, tlsCredentials } from '../../../test/helpers/tls';
import { DrainTracker, type ConnectionCounts } from '../src/drain-tracker';

/**
 * The drain at the worst moments (issue 8): a TLS handshake under way, an HTTP/2 server's HTTP/1
 * clients, pipelined requests, a request that stalls half-sent, HTTP/2 streams opened in the round
 * trip of GOAWAY. Real servers on 127.0.0.1:0 and real clients; timing assertions are lower bounds the
 * code promises, upper bounds are generous waits that fail with a message.
 */
const HOST = '127.0.0.1';
const PROMPT_MS = 10_000;
/** The tracker's bound on a request still arriving (ARRIVAL_LIMIT_MS) with the server's defaults. */
const ARRIVAL_LIMIT_MS = 5_000;

jest.setTimeout(40_000);

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), Math.max(0, ms));
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitFor(what: string, condition: () => boolean, ms = PROMPT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** Whether `promise` has settled by now (after the turns already queued). */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(
    () => (done = true),
    () => (done = true),
  );
  await sleep(0);
  return done;
}

function counts(sockets: number, activeRequests: number, idle: number, upgraded: number): ConnectionCounts {
  return { sockets, activeRequests, idle, upgraded };
}

interface Served<S extends net.Server> {
  server: S;
  tracker: DrainTracker;
  port: number;
  /** Every TCP connection the server accepted. */
  accepted: net.Socket[];
}

async function track<S extends net.Server>(server: S): Promise<Served<S>> {
  const tracker = new DrainTracker(server);
  const accepted: net.Socket[] = [];
  server.on('connection', (socket: net.Socket) => accepted.push(socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => resolve());
  });
  cleanups.push(async () => {
    tracker.destroyAll();
    if (server.listening) await new Promise((resolve) => net.Server.prototype.close.call(server, resolve));
  });
  return { server, tracker, port: (server.address() as net.AddressInfo).port, accepted };
}

// ------------------------------------------------------------------------------------------------
// A raw HTTP/1.1 client that shows exactly what the server sent, response by response.

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

class RawClient {
  private buffer = Buffer.alloc(0);
  private wake: () => void = () => undefined;
  closed = false;
  error: Error | undefined;

  constructor(readonly socket: net.Socket | tls.TLSSocket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', (error) => (this.error = error));
    cleanups.push(() => socket.destroy());
  }

  send(text: string): void {
    this.socket.write(text);
  }

  /** Reads one response with a Content-Length body (all the servers here send one). */
  async response(ms = PROMPT_MS): Promise<RawResponse> {
    const deadline = Date.now() + ms;
    for (;;) {
      const response = this.take();
      if (response) return response;
      if (this.closed)
        throw new Error(
          `connection closed while waiting for a response; have ${JSON.stringify(this.buffer.toString('latin1'))}`,
        );
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for a response`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  async untilClosed(ms = PROMPT_MS): Promise<void> {
    await waitFor('the connection to close', () => this.closed, ms);
  }

  private take(): RawResponse | undefined {
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const [statusLine = '', ...lines] = this.buffer.subarray(0, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    if (this.buffer.length < end + 4 + length) return undefined;
    const body = this.buffer.subarray(end + 4, end + 4 + length).toString('latin1');
    this.buffer = this.buffer.subarray(end + 4 + length);
    return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1]), headers, body };
  }
}

function connectRaw(port: number): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, HOST);
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(new RawClient(socket));
    });
  });
}

function get(path: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`;
}

/** An app that answers `answer <url>` with a Content-Length, after `delayMs` (0: at once, synchronously). */
function answering(delayMs: number, seen: string[] = []): http.RequestListener {
  return (req, res) => {
    seen.push(req.url ?? '');
    const answer = (): void => {
      res.setHeader('Content-Length', Buffer.byteLength(`answer ${req.url}`));
      res.end(`answer ${req.url}`);
    };
    if (delayMs === 0) answer();
    else setTimeout(answer, delayMs);
  };
}

// ------------------------------------------------------------------------------------------------
// TLS: a throw-away self-signed certificate made at test time (test/helpers/tls.ts).

const describeTls = HAS_OPENSSL ? describe : describe.skip;

/** Completes a TLS handshake on a TCP connection opened earlier (which has sent nothing so far). */
function handshake(socket: net.Socket, options: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const secure = tls.connect({ socket, rejectUnauthorized: false, ...options });
    secure.once('error', reject);
    secure.once('secureConnect', () => {
      secure.off('error', reject);
      resolve(secure);
    });
  });
}

// ------------------------------------------------------------------------------------------------

describeTls('4. HTTPS: connections still in their TLS handshake when the drain starts', () => {
  test('are counted and waited for; they then complete the handshake and a request, and get Connection: close', async () => {
    const { tracker, port } = await track(https.createServer(tlsCredentials(), answering(0)));
    // TCP connected, ClientHello not sent yet: the server holds a socket that is not a TLS socket yet.
    const tcp = await Promise.all(
      Array.from(
        { length: 5 },
        () =>
          new Promise<net.Socket>((resolve) => {
            const socket = net.connect(port, HOST, () => resolve(socket));
            cleanups.push(() => socket.destroy());
          }),
      ),
    );
    await waitFor('five handshaking connections to be counted', () => tracker.counts().sockets === 5);
    expect(tracker.counts()).toEqual(counts(5, 0, 5, 0));

    const drained = tracker.drain(20_000);
    await sleep(300);
    // The old tracker followed 'secureConnection' only: it saw nothing, the drain ended at once, and the
    // old process exited under these connections.
    expect(await settled(drained)).toBe(false);
    expect(tracker.counts()).toEqual(counts(5, 0, 5, 0));

    const replies = await Promise.all(
      tcp.map(async (socket, i) => {
        const client = new RawClient(await handshake(socket));
        client.send(get(`/late-${i}`));
        return client.response();
      }),
    );
    for (const [i, reply] of replies.entries()) {
      expect(reply).toMatchObject({ status: 200, body: `answer /late-${i}` });
      expect(reply.headers.connection).toBe('close');
    }
    const result = await within(drained, PROMPT_MS, 'the drain to end once they are answered');
    expect(result.forced).toBe(0);
    expect(tracker.counts()).toEqual(counts(0, 0, 0, 0));
  });

  test('a handshake that never completes gets the time a request gets to arrive, not the whole deadline', async () => {
    const { server, tracker, port } = await track(https.createServer(tlsCredentials(), answering(0)));
    server.headersTimeout = 1_000; // The tracker's bound is the smaller of this and 5 s.
    const stalled = net.connect(port, HOST);
    cleanups.push(() => stalled.destroy());
    let closed = false;
    stalled.on('close', () => (closed = true));
    stalled.on('error', () => undefined);
    await waitFor('the handshaking connection to be counted', () => tracker.counts().sockets === 1);

    const result = await within(tracker.drain(30_000), PROMPT_MS, 'the drain to end well before its 30 s deadline');
    expect(result.forced).toBe(0);
    expect(result.durationMs).toBeGreaterThanOrEqual(1_000);
    await waitFor('the client to see the close', () => closed);
  });
});

describeTls('5. an HTTP/2 server with allowHTTP1: its HTTP/1.1 clients drain like HTTP/1.1', () => {
  async function serveBoth(): Promise<Served<http2.Http2SecureServer>> {
    const server = http2.createSecureServer({ ...tlsCredentials(), allowHTTP1: true }, (req, res) => {
      const body = `answer ${req.url} over ${req.httpVersion}`;
      res.setHeader('Content-Length', Buffer.byteLength(body));
      res.end(body);
    });
    return track(server);
  }

  function getOverHttps(
    port: number,
    agent: https.Agent,
    pathname: string,
  ): Promise<{ status: number; connection: string | undefined; body: string }> {
    return new Promise((resolve, reject) => {
      const req = https.get({ host: HOST, port, path: pathname, agent, rejectUnauthorized: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.setTimeout(PROMPT_MS, () => req.destroy(new Error(`GET ${pathname} timed out`)));
    });
  }

  test('https.Agent (keepAlive): its next request during the drain gets Connection: close; nothing is reset; an h2 session beside it gets GOAWAY', async () => {
    const { tracker, port, accepted } = await serveBoth();
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => agent.destroy());
    const errors: Error[] = [];
    agent.on('free', (socket: net.Socket) => socket.on('error', (error) => errors.push(error)));

    expect(await getOverHttps(port, agent, '/one')).toEqual({
      status: 200,
      connection: 'keep-alive',
      body: 'answer /one over 1.1',
    });
    const h2 = http2.connect(`https://${HOST}:${port}`, { rejectUnauthorized: false });
    h2.on('error', (error) => errors.push(error));
    cleanups.push(() => h2.destroy());
    await new Promise((resolve) => h2.once('connect', resolve));
    await waitFor('both connections to be idle', () => tracker.counts().idle === 2);
    expect(tracker.counts()).toEqual(counts(2, 0, 2, 0));

    const goaway = new Promise((resolve) => h2.once('goaway', resolve));
    const drained = tracker.drain(20_000);
    await within(goaway, PROMPT_MS, 'GOAWAY on the h2 session');
    // The old tracker drained an HTTP/2 server with GOAWAY only: this reply said keep-alive, the agent kept
    // the socket, and the deadline reset it.
    expect(await getOverHttps(port, agent, '/two')).toEqual({
      status: 200,
      connection: 'close',
      body: 'answer /two over 1.1',
    });
    // Same connection (the listener is closed: a new one would have been refused).
    expect(accepted).toHaveLength(2);

    const result = await within(drained, PROMPT_MS, 'the drain to end without force');
    expect(result.forced).toBe(0);
    expect(errors).toEqual([]);
  });

  test('an idle HTTP/1.1 keep-alive socket (Node gives these no keep-alive timer) closes after the idle grace, not at the deadline', async () => {
    const { tracker, port } = await serveBoth();
    const client = new RawClient(await handshake(net.connect(port, HOST), { ALPNProtocols: ['http/1.1'] }));
    client.send(get('/one'));
    expect((await client.response()).body).toBe('answer /one over 1.1');
    await waitFor('the socket to be idle', () => tracker.counts().idle === 1);

    const started = Date.now();
    const drained = tracker.drain(30_000);
    await sleep(2_500);
    expect(client.closed).toBe(false); // The grace a client without a Keep-Alive hint gets: 5 s.
    const result = await within(drained, 5_000 + 2_500 - (Date.now() - started), 'the idle grace to close it');
    expect(result.forced).toBe(0);
    await client.untilClosed();
  });
});

describe('6. HTTP/1.1 pipelining: requests already read are all answered; the close goes after the last', () => {
  function pipeline(paths: string[]): string {
    return paths.map(get).join('');
  }

  test('5 requests written at once, in flight when the drain starts: 5 answers, the last with Connection: close, then the close', async () => {
    const seen: string[] = [];
    const { tracker, port } = await track(http.createServer(answering(150, seen)));
    const client = await connectRaw(port);
    client.send(pipeline(['/1', '/2', '/3', '/4', '/5']));
    await waitFor('the app to run all five', () => seen.length === 5);

    const drained = tracker.drain(20_000);
    const replies: RawResponse[] = [];
    for (let i = 0; i < 5; i++) replies.push(await client.response());
    // The old tracker put Connection: close on the first; Node closed after it and dropped four answers.
    expect(replies.map((r) => r.body)).toEqual(['answer /1', 'answer /2', 'answer /3', 'answer /4', 'answer /5']);
    expect(replies.map((r) => r.headers.connection)).toEqual([
      'keep-alive',
      'keep-alive',
      'keep-alive',
      'keep-alive',
      'close',
    ]);
    await client.untilClosed();
    expect((await within(drained, PROMPT_MS, 'the drain')).forced).toBe(0);
  });

  test.each([
    ['an app that answers at once (each answer goes out before the next request is parsed)', 0],
    ['an app that answers later', 50],
  ])(
    '5 requests written at once on an old keep-alive socket during the drain, %s: 5 answers, the last with Connection: close',
    async (_name, delayMs) => {
      const seen: string[] = [];
      const { tracker, port } = await track(http.createServer(answering(delayMs, seen)));
      const client = await connectRaw(port);
      client.send(get('/warm'));
      expect((await client.response()).headers.connection).toBe('keep-alive');
      await waitFor('the socket to be idle', () => tracker.counts().idle === 1);

      const drained = tracker.drain(20_000);
      client.send(pipeline(['/1', '/2', '/3', '/4', '/5']));
      const replies: RawResponse[] = [];
      for (let i = 0; i < 5; i++) replies.push(await client.response());
      expect(replies.map((r) => r.body)).toEqual(['answer /1', 'answer /2', 'answer /3', 'answer /4', 'answer /5']);
      expect(replies.map((r) => r.headers.connection)).toEqual([
        'keep-alive',
        'keep-alive',
        'keep-alive',
        'keep-alive',
        'close',
      ]);
      expect(seen).toEqual(['/warm', '/1', '/2', '/3', '/4', '/5']);
      await client.untilClosed();
      expect((await within(drained, PROMPT_MS, 'the drain')).forced).toBe(0);
    },
  );

  (HAS_OPENSSL ? test : test.skip)(
    'over TLS, 5 requests written at once during the drain to an app that answers at once: 5 answers, the last with Connection: close',
    async () => {
      const { tracker, port } = await track(https.createServer(tlsCredentials(), answering(0)));
      const client = new RawClient(await handshake(net.connect(port, HOST)));
      client.send(get('/warm'));
      expect((await client.response()).headers.connection).toBe('keep-alive');
      const drained = tracker.drain(20_000);
      client.send(pipeline(['/1', '/2', '/3', '/4', '/5']));
      const replies: RawResponse[] = [];
      for (let i = 0; i < 5; i++) replies.push(await client.response());
      expect(replies.map((r) => r.headers.connection)).toEqual([
        'keep-alive',
        'keep-alive',
        'keep-alive',
        'keep-alive',
        'close',
      ]);
      await client.untilClosed();
      expect((await within(drained, PROMPT_MS, 'the drain')).forced).toBe(0);
    },
  );

  test('a request pipelined after one already marked for close (not yet answered) moves the close to itself', async () => {
    const seen: string[] = [];
    const { tracker, port } = await track(http.createServer(answering(300, seen)));
    const client = await connectRaw(port);
    const drained = tracker.drain(20_000);
    client.send(pipeline(['/1', '/2', '/3']));
    await waitFor('the first three', () => seen.length === 3);
    client.send(pipeline(['/4', '/5']));
    const replies: RawResponse[] = [];
    for (let i = 0; i < 5; i++) replies.push(await client.response());
    expect(replies.map((r) => r.body)).toEqual(['answer /1', 'answer /2', 'answer /3', 'answer /4', 'answer /5']);
    expect(replies.map((r) => r.headers.connection)).toEqual([
      'keep-alive',
      'keep-alive',
      'keep-alive',
      'keep-alive',
      'close',
    ]);
    await client.untilClosed();
    expect((await within(drained, PROMPT_MS, 'the drain')).forced).toBe(0);
  });

  test('pipelined requests the app answered before their turn (headers out of reach) are all answered; the socket then idles out on the server’s timer', async () => {
    const { server, tracker, port } = await track(
      http.createServer((req, res) => {
        // The first waits; the rest answer at once and wait in Node's queue behind it.
        const answer = (): void => void res.end(`answer ${req.url}`);
        if (req.url === '/1') setTimeout(answer, 200);
        else answer();
      }),
    );
    server.keepAliveTimeout = 500;
    const client = await connectRaw(port);
    client.send(pipeline(['/1', '/2', '/3']));
    await waitFor('the first request in progress', () => tracker.counts().activeRequests === 1);
    const drained = tracker.drain(20_000);
    const replies: RawResponse[] = [];
    for (let i = 0; i < 3; i++) replies.push(await client.response());
    expect(replies.map((r) => r.body)).toEqual(['answer /1', 'answer /2', 'answer /3']);
    expect(replies.map((r) => r.headers.connection)).toEqual(['keep-alive', 'keep-alive', 'keep-alive']);
    expect((await within(drained, PROMPT_MS, 'the keep-alive timer to close it')).forced).toBe(0);
    await client.untilClosed();
  });
});

describe('11. a request that has not finished arriving when the drain starts gets a bounded time to arrive', () => {
  test('half a request head, then nothing: 408 with Connection: close after about 5 s, not the 30 s deadline', async () => {
    const { tracker, port } = await track(http.createServer(answering(0)));
    const client = await connectRaw(port);
    client.send('GET / HTTP/1.1\r\nHost: x\r\n'); // No final CRLF.
    await waitFor('the bytes to arrive', () => tracker.counts().sockets === 1);
    await sleep(50);

    const drained = tracker.drain(30_000);
    await sleep(ARRIVAL_LIMIT_MS / 2);
    expect(client.closed).toBe(false);
    // The old tracker left it alone until the deadline: a retired generation (and its memory) lived on.
    const result = await within(drained, ARRIVAL_LIMIT_MS + 5_000, 'the arrival limit to close it');
    expect(result.forced).toBe(0);
    const reply = await client.response();
    expect(reply.status).toBe(408);
    expect(reply.headers.connection).toBe('close');
    await client.untilClosed();
  });

  test('half a request that completes within the bound is answered, with Connection: close', async () => {
    const { server, tracker, port } = await track(http.createServer(answering(0)));
    server.headersTimeout = 2_000;
    const client = await connectRaw(port);
    client.send('GET /slowly HTTP/1.1\r\nHost: x\r\n');
    await waitFor('the connection', () => tracker.counts().sockets === 1);
    const drained = tracker.drain(30_000);
    await sleep(1_000);
    client.send('\r\n');
    const reply = await client.response();
    expect(reply).toMatchObject({ status: 200, body: 'answer /slowly' });
    expect(reply.headers.connection).toBe('close');
    expect((await within(drained, PROMPT_MS, 'the drain')).forced).toBe(0);
  });

  test('a socket that never sent a byte closes within the bound even when the server promises a long keep-alive', async () => {
    const { server, tracker, port } = await track(http.createServer(answering(0)));
    server.keepAliveTimeout = 60_000; // The old grace for a silent socket: 61 s, past the deadline.
    const client = await connectRaw(port);
    await waitFor('the connection', () => tracker.counts().sockets === 1);
    const result = await within(tracker.drain(30_000), ARRIVAL_LIMIT_MS + 5_000, 'the arrival limit to close it');
    expect(result.forced).toBe(0);
    await client.untilClosed();
  });

  (HAS_OPENSSL ? test : test.skip)('over TLS: half a request head gets 408 too', async () => {
    const { server, tracker, port } = await track(https.createServer(tlsCredentials(), answering(0)));
    server.headersTimeout = 1_000;
    const client = new RawClient(await handshake(net.connect(port, HOST)));
    client.send('GET / HTTP/1.1\r\nHost: x\r\n');
    await waitFor('the TLS connection', () => tracker.counts().sockets === 1);
    await sleep(50);
    const result = await within(tracker.drain(30_000), PROMPT_MS, 'the arrival limit to close it');
    expect(result.forced).toBe(0);
    expect((await client.response()).status).toBe(408);
    await client.untilClosed();
  });
});

describe('13. HTTP/2: streams opened in the round trip of GOAWAY', () => {
  interface Tally {
    sent: number;
    answered: number;
    /** REFUSED_STREAM for a stream the client did send: the server's doing. */
    refused: number;
    /** Never left the client (it saw GOAWAY first and refused them itself): no server can help that. */
    notSent: number;
    otherErrors: string[];
  }

  /** Opens streams in bursts of `burst` per turn until the session stops taking them or `max` is reached. */
  async function openStreams(
    client: http2.ClientHttp2Session,
    tally: Tally,
    burst: number,
    max: number,
  ): Promise<void> {
    const replies: Array<Promise<void>> = [];
    for (let opened = 0; opened < max;) {
      if (client.closed || client.destroyed) break;
      for (let i = 0; i < burst && opened < max; i++, opened++) {
        const stream = client.request({ ':path': `/${opened}` });
        let sent = true;
        stream.on('frameError', () => (sent = false));
        replies.push(
          new Promise<void>((resolve) => {
            stream.on('data', () => undefined);
            stream.on('end', () => {
              tally.answered += 1;
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

  test('h2c: clients opening streams in a tight loop while the drain starts see no REFUSED_STREAM; every stream sent is answered', async () => {
    const server = http2.createServer();
    server.on('stream', (stream) => {
      stream.respond({ ':status': 200 });
      stream.end('ok');
    });
    const { tracker, port } = await track(server);
    const tally: Tally = { sent: 0, answered: 0, refused: 0, notSent: 0, otherErrors: [] };
    const clients = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const client = http2.connect(`http://${HOST}:${port}`);
        client.on('error', () => undefined);
        cleanups.push(() => client.destroy());
        await new Promise((resolve) => client.once('connect', resolve));
        return client;
      }),
    );
    // Accepted, not only connected: closing the listener resets connections still in its backlog (in
    // baton the listening socket lives on in the successor, which accepts them).
    await waitFor('the server to accept all four', () => tracker.counts().sockets === clients.length);
    const loops = clients.map((client) => openStreams(client, tally, 10, 3_000));
    await sleep(50);
    const drained = tracker.drain(20_000);
    await within(Promise.all(loops), PROMPT_MS * 2, 'every stream to settle');

    // The old single GOAWAY named the last stream seen: tens of streams in flight were refused per drain.
    expect(tally.refused).toBe(0);
    expect(tally.otherErrors).toEqual([]);
    expect(tally.answered).toBe(tally.sent);
    expect(tally.sent).toBeGreaterThanOrEqual(clients.length * 10); // At least a burst each.
    expect((await within(drained, PROMPT_MS, 'the drain')).forced).toBe(0);
  });

  test('h2c: a session that starts as the drain starts (its SETTINGS not out yet) gets the notice after them; its first stream is answered', async () => {
    const server = http2.createServer();
    server.on('stream', (stream) => {
      stream.respond({ ':status': 200 });
      stream.end('ok');
    });
    const { tracker, port } = await track(server);
    let drained: Promise<unknown> | undefined;
    // The server's SETTINGS must be its first frame: a notice written at once would overtake them.
    server.once('session', () => (drained = tracker.drain(20_000)));
    const client = http2.connect(`http://${HOST}:${port}`);
    client.on('error', () => undefined);
    cleanups.push(() => client.destroy());
    const lastStreamIds: number[] = [];
    client.on('goaway', (_code: number, lastStreamId: number) => lastStreamIds.push(lastStreamId));
    const status = await new Promise<string>((resolve) => {
      const stream = client.request({ ':path': '/' });
      stream.on('response', (headers) => resolve(String(headers[':status'])));
      stream.on('error', (error: Error) => resolve(error.message));
      stream.resume();
      stream.end();
    });
    // The old single GOAWAY went out before any stream was processed (last-stream-id 0): refused.
    expect(status).toBe('200');
    expect(lastStreamIds[0]).toBe(2 ** 31 - 1);
    expect(await within(drained as Promise<unknown>, PROMPT_MS, 'the drain')).toMatchObject({ forced: 0 });
  });

  (HAS_OPENSSL ? test : test.skip)(
    'over TLS a session still drains with one GOAWAY (no second writer on a TLS socket): the stream in flight finishes',
    async () => {
      const server = http2.createSecureServer(tlsCredentials());
      server.on('stream', (stream, headers) => {
        setTimeout(
          () => {
            stream.respond({ ':status': 200 });
            stream.end(`answer ${headers[':path']}`);
          },
          headers[':path'] === '/slow' ? 300 : 0,
        );
      });
      const { tracker, port } = await track(server);
      const client = http2.connect(`https://${HOST}:${port}`, { rejectUnauthorized: false });
      client.on('error', () => undefined);
      cleanups.push(() => client.destroy());
      const body = new Promise<string>((resolve, reject) => {
        const stream = client.request({ ':path': '/slow' });
        let text = '';
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => (text += chunk));
        stream.on('end', () => resolve(text));
        stream.on('error', reject);
        stream.end();
      });
      await waitFor('the stream to arrive', () => tracker.counts().activeRequests === 1);
      const goaway = new Promise((resolve) => client.once('goaway', resolve));
      const drained = tracker.drain(20_000);
      await within(goaway, PROMPT_MS, 'GOAWAY');
      expect(await body).toBe('answer /slow');
      expect((await within(drained, PROMPT_MS, 'the drain')).forced).toBe(0);
    },
  );
});

describe('resume(): the drain called off (a successor died in the rollback window)', () => {
  test('a pending drain resolves as resumed, nothing is closed, later requests are not told to close, and a new drain works', async () => {
    const { tracker, port } = await track(http.createServer(answering(0)));
    const client = await connectRaw(port);
    client.send(get('/one'));
    expect((await client.response()).headers.connection).toBe('keep-alive');

    const drained = tracker.drain(20_000);
    expect(tracker.draining).toBe(true);
    tracker.resume();
    expect(await within(drained, PROMPT_MS, 'the drain to resolve')).toMatchObject({ forced: 0, resumed: true });
    expect(tracker.draining).toBe(false);
    client.send(get('/two'));
    expect((await client.response()).headers.connection).toBe('keep-alive');

    const again = tracker.drain(20_000);
    client.send(get('/three'));
    expect((await client.response()).headers.connection).toBe('close');
    expect(await within(again, PROMPT_MS, 'the second drain')).toMatchObject({ forced: 0 });
  });
});
