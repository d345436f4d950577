import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { Agent as UndiciAgent, request as undiciRequest } from 'undici';
import { HAS_OPENSSL, tlsCredentials } from '../../../test/helpers/tls';
import { DrainTracker, type ConnectionCounts } from '../src/drain-tracker';

/**
 * Real servers on 127.0.0.1:0 and real clients. Timing assertions are only ever lower bounds the code
 * promises ("still open at T, before the timer that closes it"); upper bounds are generous waits that
 * fail with a message instead of hanging.
 */
const HOST = '127.0.0.1';
/** Bound for anything that should happen promptly (a response, a close after Connection: close). */
const PROMPT_MS = 10_000;
/** Slack on top of a promised timer before we call it missing (the tracker sweeps every 250 ms). */
const MARGIN_MS = 2_500;
/** Node closes an idle keep-alive socket at keepAliveTimeout + 1 s (Node 20). */
const NODE_KEEP_ALIVE_BUFFER_MS = 1_000;

jest.setTimeout(30_000);

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** Sleeps until `ms` after `since`. */
function sleepUntil(since: number, ms: number): Promise<void> {
  return sleep(since + ms - Date.now());
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

function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

function counts(sockets: number, activeRequests: number, idle: number, upgraded: number): ConnectionCounts {
  return { sockets, activeRequests, idle, upgraded };
}

/** What the server saw of each accepted connection. */
interface Accepted {
  socket: net.Socket;
  /** The client sent FIN: it, not the server, ended the connection. */
  endedByClient: boolean;
  closed: boolean;
}

interface Served<S extends net.Server = http.Server> {
  server: S;
  tracker: DrainTracker;
  port: number;
  accepted: Accepted[];
}

async function track<S extends net.Server>(server: S): Promise<Served<S>> {
  const tracker = new DrainTracker(server);
  const accepted: Accepted[] = [];
  server.on('connection', (socket: net.Socket) => {
    const entry: Accepted = { socket, endedByClient: false, closed: false };
    accepted.push(entry);
    socket.on('end', () => (entry.endedByClient = true));
    socket.on('close', () => (entry.closed = true));
  });
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

function serveHttp(handler: http.RequestListener, configure?: (server: http.Server) => void): Promise<Served> {
  const server = http.createServer(handler);
  configure?.(server);
  return track(server);
}

// ------------------------------------------------------------------------------------------------
// A raw HTTP/1.1 client: it keeps its connection open until told otherwise, like a client that
// trusts the server's keep-alive timer, and shows exactly what the server sent.

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
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

function connectTls(port: number): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ port, host: HOST, rejectUnauthorized: false });
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      socket.off('error', reject);
      resolve(new RawClient(socket));
    });
  });
}

class RawClient {
  private buffer = Buffer.alloc(0);
  private wake: () => void = () => undefined;
  ended = false;
  closed = false;
  /** Date.now() when the socket closed. */
  closedAt: number | undefined;
  error: Error | undefined;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.closedAt = Date.now();
      this.wake();
    });
    socket.on('error', (error) => (this.error = error));
    cleanups.push(() => socket.destroy());
  }

  send(text: string): void {
    this.socket.write(text);
  }

  get(path: string, headers: Record<string, string> = {}): void {
    const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
    this.send(`GET ${path} HTTP/1.1\r\nHost: ${HOST}\r\n${lines.join('')}\r\n`);
  }

  private async until<T>(what: string, take: () => T | undefined, ms: number): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = take();
      if (value !== undefined) return value;
      if (this.closed)
        throw new Error(
          `connection closed while waiting for ${what}; have ${JSON.stringify(this.buffer.toString('latin1'))}`,
        );
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Reads one response (Content-Length, chunked, or a 1xx/101 without a body). */
  response(ms = PROMPT_MS): Promise<RawResponse> {
    return this.until('a response', () => this.takeResponse(), ms);
  }

  /** Reads exactly `length` bytes of whatever follows (an upgraded protocol). */
  read(length: number, ms = PROMPT_MS): Promise<string> {
    return this.until(
      `${length} bytes`,
      () => {
        if (this.buffer.length < length) return undefined;
        const text = this.buffer.subarray(0, length).toString('latin1');
        this.buffer = this.buffer.subarray(length);
        return text;
      },
      ms,
    );
  }

  async untilClosed(ms: number, what = 'the connection to close'): Promise<void> {
    const deadline = Date.now() + ms;
    await waitFor(what, () => this.closed || Date.now() > deadline, ms + 1000);
    if (!this.closed) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
  }

  private takeResponse(): RawResponse | undefined {
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const [statusLine = '', ...headerLines] = this.buffer.subarray(0, end).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1]);
    const headers: Record<string, string> = {};
    for (const line of headerLines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    let rest = this.buffer.subarray(end + 4);
    let body = '';
    if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (rest.length < length) return undefined;
      body = rest.subarray(0, length).toString('latin1');
      rest = rest.subarray(length);
    } else if (headers['transfer-encoding'] === 'chunked') {
      for (;;) {
        const lineEnd = rest.indexOf('\r\n');
        if (lineEnd < 0) return undefined;
        const size = parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16);
        if (rest.length < lineEnd + 2 + size + 2) return undefined;
        body += rest.subarray(lineEnd + 2, lineEnd + 2 + size).toString('latin1');
        rest = rest.subarray(lineEnd + 2 + size + 2);
        if (size === 0) break;
      }
    }
    this.buffer = rest;
    return { status, headers, body };
  }
}

// ------------------------------------------------------------------------------------------------
// Real keep-alive clients.

interface Reply {
  status: number;
  connection: string | undefined;
  body: string;
}

interface KeepAliveClient {
  name: string;
  get(path: string): Promise<Reply>;
  /** Open connections on the client side (pooled or busy). */
  openSockets(): number;
}

function nodeAgentClient(port: number): KeepAliveClient {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  cleanups.push(() => agent.destroy());
  return {
    name: 'http.Agent',
    get: (path) =>
      new Promise<Reply>((resolve, reject) => {
        const req = http.get({ host: HOST, port, path, agent }, (res) => {
          let body = '';
          res.setEncoding('latin1');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.setTimeout(PROMPT_MS, () => req.destroy(new Error(`GET ${path} timed out`)));
      }),
    openSockets: () =>
      [...Object.values(agent.freeSockets), ...Object.values(agent.sockets)].reduce(
        (n, list) => n + (list?.filter((s) => !s.destroyed).length ?? 0),
        0,
      ),
  };
}

function undiciClient(
  port: number,
  options: ConstructorParameters<typeof UndiciAgent>[0] = {},
): KeepAliveClient & { agent: UndiciAgent } {
  const agent = new UndiciAgent({ connections: 1, ...options });
  cleanups.push(() => agent.destroy());
  let open = 0;
  agent.on('connect', () => (open += 1));
  agent.on('disconnect', () => (open -= 1));
  return {
    name: 'undici',
    agent,
    get: async (path) => {
      const res = await undiciRequest(`http://${HOST}:${port}${path}`, {
        dispatcher: agent,
        headersTimeout: PROMPT_MS,
        bodyTimeout: PROMPT_MS,
      });
      const body = await res.body.text();
      const connection = res.headers.connection;
      return {
        status: res.statusCode,
        connection: Array.isArray(connection) ? connection.join(', ') : connection,
        body,
      };
    },
    openSockets: () => open,
  };
}

function rawClientAdapter(port: number): KeepAliveClient {
  let client: RawClient | undefined;
  return {
    name: 'raw',
    get: async (path) => {
      client ??= await connectRaw(port);
      client.get(path);
      const res = await client.response();
      return { status: res.status, connection: res.headers.connection, body: res.body };
    },
    openSockets: () => (client && !client.closed ? 1 : 0),
  };
}

const CLIENTS: Array<[string, (port: number) => KeepAliveClient]> = [
  ['raw HTTP/1.1', rawClientAdapter],
  ['http.Agent (keepAlive)', nodeAgentClient],
  ['undici', (port) => undiciClient(port)],
];

// ------------------------------------------------------------------------------------------------

describe('counts()', () => {
  test('follows a connection through connect, request, response, idle and close', async () => {
    const arrived = deferred();
    const release = deferred();
    const { tracker, port } = await serveHttp((_req, res) => {
      arrived.resolve();
      void release.promise.then(() => res.end('done'));
    });
    expect(tracker.counts()).toEqual(counts(0, 0, 0, 0));
    expect(tracker.draining).toBe(false);

    const client = await connectRaw(port);
    await waitFor('the server to track the connection', () => tracker.counts().sockets === 1);
    // Accepted but silent: idle.
    expect(tracker.counts()).toEqual(counts(1, 0, 1, 0));

    client.get('/');
    await within(arrived.promise, PROMPT_MS, 'the request to arrive');
    expect(tracker.counts()).toEqual(counts(1, 1, 0, 0));

    const other = await connectRaw(port);
    await waitFor('the second connection', () => tracker.counts().sockets === 2);
    expect(tracker.counts()).toEqual(counts(2, 1, 1, 0));

    release.resolve();
    const res = await client.response();
    expect(res.status).toBe(200);
    expect(res.body).toBe('done');
    expect(res.headers.connection).toBe('keep-alive');
    await waitFor('the response to finish', () => tracker.counts().activeRequests === 0);
    expect(tracker.counts()).toEqual(counts(2, 0, 2, 0));

    client.socket.destroy();
    await waitFor('the first connection to go', () => tracker.counts().sockets === 1);
    expect(tracker.counts()).toEqual(counts(1, 0, 1, 0));
    other.socket.end();
    await waitFor('the second connection to go', () => tracker.counts().sockets === 0);
    expect(tracker.counts()).toEqual(counts(0, 0, 0, 0));
    expect(tracker.upgradedSockets()).toEqual([]);
  });

  test('counts concurrent requests on separate connections', async () => {
    const release = deferred();
    let seen = 0;
    const { tracker, port } = await serveHttp((_req, res) => {
      seen += 1;
      void release.promise.then(() => res.end('x'));
    });
    const clients = await Promise.all([connectRaw(port), connectRaw(port), connectRaw(port)]);
    for (const client of clients) client.get('/');
    await waitFor('three requests', () => seen === 3);
    expect(tracker.counts()).toEqual(counts(3, 3, 0, 0));
    release.resolve();
    await Promise.all(clients.map((client) => client.response()));
    await waitFor('the responses to finish', () => tracker.counts().activeRequests === 0);
    expect(tracker.counts()).toEqual(counts(3, 0, 3, 0));
  });

  test('a request whose client goes away is no longer counted', async () => {
    const arrived = deferred();
    const { tracker, port } = await serveHttp(() => arrived.resolve());
    const client = await connectRaw(port);
    client.get('/hang');
    await within(arrived.promise, PROMPT_MS, 'the request');
    expect(tracker.counts()).toEqual(counts(1, 1, 0, 0));
    client.socket.destroy();
    await waitFor('the socket to be forgotten', () => tracker.counts().sockets === 0);
    expect(tracker.counts()).toEqual(counts(0, 0, 0, 0));
  });
});

describe('drain(): responses and requests', () => {
  test('with no connections it resolves at once, stops accepting, and forces nothing', async () => {
    const { server, tracker, port } = await serveHttp((_req, res) => res.end());
    const result = await within(tracker.drain(20_000), PROMPT_MS, 'an empty drain');
    expect(result.forced).toBe(0);
    expect(tracker.draining).toBe(true);
    expect(server.listening).toBe(false);
    await expect(connectRaw(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  test.each([
    ['http.Agent (keepAlive)', nodeAgentClient],
    ['undici', (port: number) => undiciClient(port)],
    ['raw HTTP/1.1', rawClientAdapter],
  ] as Array<[string, (port: number) => KeepAliveClient]>)(
    '%s: a response in flight when drain starts gets Connection: close and its whole body',
    async (_name, makeClient) => {
      const arrived = deferred();
      const release = deferred();
      // 32 chunks of 8 KiB, each a different letter, written one per event-loop turn after drain started.
      const chunks = Array.from({ length: 32 }, (_, i) => String.fromCharCode(97 + (i % 26)).repeat(8192));
      const { server, tracker, port } = await serveHttp((_req, res) => {
        arrived.resolve();
        void release.promise.then(async () => {
          res.setHeader('Content-Type', 'text/plain');
          for (const chunk of chunks) {
            res.write(chunk);
            await new Promise((resolve) => setImmediate(resolve));
          }
          res.end();
        });
      });
      const client = makeClient(port);
      const reply = client.get('/slow');
      await within(arrived.promise, PROMPT_MS, 'the request to arrive');
      expect(tracker.counts()).toEqual(counts(1, 1, 0, 0));

      const drained = tracker.drain(20_000);
      expect(tracker.draining).toBe(true);
      expect(server.listening).toBe(false);
      // Nothing is cut: the request is still there.
      await sleep(50);
      expect(tracker.counts()).toEqual(counts(1, 1, 0, 0));

      release.resolve();
      const res = await within(reply, PROMPT_MS, 'the response');
      expect(res.status).toBe(200);
      expect(res.connection).toBe('close');
      expect(res.body.length).toBe(chunks.join('').length);
      expect(res.body).toBe(chunks.join(''));

      // Connection: close ends the connection as soon as the response is done, long before the deadline.
      const result = await within(drained, PROMPT_MS, 'the drain to finish');
      expect(result.forced).toBe(0);
      expect(tracker.counts()).toEqual(counts(0, 0, 0, 0));
    },
  );

  test.each(CLIENTS)(
    '%s: a request arriving on an old keep-alive socket during drain is answered, with Connection: close',
    async (_name, makeClient) => {
      const { tracker, port, accepted } = await serveHttp((req, res) => res.end(`answer to ${req.url}`));
      const client = makeClient(port);

      const first = await client.get('/one');
      expect(first).toEqual({ status: 200, connection: 'keep-alive', body: 'answer to /one' });
      await waitFor('the first response to finish', () => tracker.counts().activeRequests === 0);
      await waitFor('the client to pool its connection', () => client.openSockets() === 1);
      expect(tracker.counts()).toEqual(counts(1, 0, 1, 0));

      const drained = tracker.drain(20_000);
      // The idle keep-alive socket is left alone...
      await sleep(100);
      expect(tracker.counts()).toEqual(counts(1, 0, 1, 0));
      expect(accepted[0]?.closed).toBe(false);

      // ...so the client's next request, already on its way on that socket, is answered, not reset.
      const second = await client.get('/two');
      expect(second).toEqual({ status: 200, connection: 'close', body: 'answer to /two' });
      // It came on the same connection (the listener is closed: a new one would have been refused).
      expect(accepted).toHaveLength(1);

      const result = await within(drained, PROMPT_MS, 'the drain to finish after Connection: close');
      expect(result.forced).toBe(0);
      expect(tracker.counts()).toEqual(counts(0, 0, 0, 0));
    },
  );

  test('a response whose headers went out before the drain completes as sent; the next request is told to close', async () => {
    const release = deferred();
    const { tracker, port } = await serveHttp((req, res) => {
      if (req.url === '/stream') {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.write('head;');
        void release.promise.then(() => res.end('tail'));
      } else {
        res.end('next');
      }
    });
    const client = await connectRaw(port);
    client.get('/stream');
    await waitFor('the headers to be sent', () => tracker.counts().activeRequests === 1 && client.socket.bytesRead > 0);
    const drained = tracker.drain(20_000);
    release.resolve();
    const first = await client.response();
    expect(first.body).toBe('head;tail');
    expect(first.headers.connection).toBe('keep-alive');
    client.get('/next');
    const second = await client.response();
    expect(second.body).toBe('next');
    expect(second.headers.connection).toBe('close');
    await client.untilClosed(PROMPT_MS);
    expect((await within(drained, PROMPT_MS, 'the drain')).forced).toBe(0);
  });
});

describe('drain(): idle connections expire on the server’s own timer, never earlier', () => {
  test('raw keep-alive client: an idle socket is still open at keepAliveTimeout after the drain started, closed by the timer', async () => {
    const keepAliveTimeout = 1000;
    const { tracker, port, accepted } = await serveHttp(
      (_req, res) => res.end('ok'),
      (server) => (server.keepAliveTimeout = keepAliveTimeout),
    );
    const client = await connectRaw(port);
    client.get('/');
    const res = await client.response();
    expect(res.headers.connection).toBe('keep-alive');
    expect(res.headers['keep-alive']).toBe('timeout=1');
    await waitFor('the response to finish', () => tracker.counts().activeRequests === 0);

    const started = Date.now();
    const drained = tracker.drain(30_000);
    // Node's timer runs keepAliveTimeout + 1 s from the end of the response, which came before `started`.
    await sleepUntil(started, keepAliveTimeout / 2);
    expect(client.closed).toBe(false);
    expect(tracker.counts()).toEqual(counts(1, 0, 1, 0));
    await sleepUntil(started, keepAliveTimeout);
    expect(client.closed).toBe(false);
    expect(tracker.counts()).toEqual(counts(1, 0, 1, 0));

    const result = await within(
      drained,
      started + keepAliveTimeout + NODE_KEEP_ALIVE_BUFFER_MS + MARGIN_MS - Date.now(),
      'the idle socket to expire',
    );
    expect(result.forced).toBe(0);
    expect(client.closed).toBe(true);
    // The server closed it; the client did nothing.
    expect(accepted[0]?.endedByClient).toBe(false);
  });

  test('control: http.Server#close() closes the same idle socket at once (the race the tracker avoids)', async () => {
    const { server, port } = await serveHttp(
      (_req, res) => res.end('ok'),
      (s) => (s.keepAliveTimeout = 1000),
    );
    const client = await connectRaw(port);
    client.get('/');
    await client.response();
    server.close();
    await client.untilClosed(PROMPT_MS);
    expect(client.closed).toBe(true);
  });

  test('http.Agent (keepAlive): its pooled socket is not closed before the server’s timer', async () => {
    // The Agent only pools a socket when the advertised timeout leaves it at least 1 s: timeout=2.
    const keepAliveTimeout = 2000;
    const { tracker, port, accepted } = await serveHttp(
      (_req, res) => res.end('ok'),
      (server) => (server.keepAliveTimeout = keepAliveTimeout),
    );
    const client = nodeAgentClient(port);
    expect((await client.get('/')).connection).toBe('keep-alive');
    await waitFor('the agent to pool the socket', () => client.openSockets() === 1);
    await waitFor('the response to finish', () => tracker.counts().activeRequests === 0);

    const started = Date.now();
    const drained = tracker.drain(30_000);
    await sleepUntil(started, keepAliveTimeout / 2);
    expect(client.openSockets()).toBe(1);
    expect(accepted[0]?.closed).toBe(false);
    expect(tracker.counts()).toEqual(counts(1, 0, 1, 0));

    const result = await within(
      drained,
      started + keepAliveTimeout + NODE_KEEP_ALIVE_BUFFER_MS + MARGIN_MS - Date.now(),
      'the pooled socket to expire',
    );
    expect(result.forced).toBe(0);
    await waitFor('the agent to drop the closed socket', () => client.openSockets() === 0);
  });

  test('undici: the client gives its idle socket up first, as the Keep-Alive hint tells it; the server never races it', async () => {
    const keepAliveTimeout = 4000;
    const { tracker, port, accepted } = await serveHttp(
      (_req, res) => res.end('ok'),
      (server) => (server.keepAliveTimeout = keepAliveTimeout),
    );
    // undici keeps an idle socket for the advertised timeout minus this threshold: 3 s here.
    const client = undiciClient(port, { keepAliveTimeoutThreshold: 1000 });
    expect((await client.get('/')).connection).toBe('keep-alive');
    await waitFor('the response to finish', () => tracker.counts().activeRequests === 0);

    const started = Date.now();
    const drained = tracker.drain(30_000);
    await sleepUntil(started, keepAliveTimeout / 4);
    expect(accepted[0]?.closed).toBe(false);
    expect(client.openSockets()).toBe(1);
    expect(tracker.counts()).toEqual(counts(1, 0, 1, 0));

    const result = await within(
      drained,
      started + keepAliveTimeout + NODE_KEEP_ALIVE_BUFFER_MS + MARGIN_MS - Date.now(),
      'the idle socket to go',
    );
    expect(result.forced).toBe(0);
    expect(accepted[0]?.endedByClient).toBe(true);
  });

  test('a connection that never sent a byte is closed after the keep-alive grace, not at once', async () => {
    const keepAliveTimeout = 1000;
    const { tracker, port, accepted } = await serveHttp(
      (_req, res) => res.end('ok'),
      (server) => (server.keepAliveTimeout = keepAliveTimeout),
    );
    const client = await connectRaw(port);
    await waitFor('the connection to be tracked', () => tracker.counts().sockets === 1);

    const started = Date.now();
    const drained = tracker.drain(30_000);
    await sleepUntil(started, keepAliveTimeout / 2);
    expect(client.closed).toBe(false);
    expect(tracker.counts()).toEqual(counts(1, 0, 1, 0));
    await sleepUntil(started, keepAliveTimeout);
    expect(client.closed).toBe(false);

    const result = await within(
      drained,
      started + keepAliveTimeout + NODE_KEEP_ALIVE_BUFFER_MS + MARGIN_MS - Date.now(),
      'the silent socket to be closed',
    );
    expect(result.forced).toBe(0);
    expect(client.closed).toBe(true);
    expect(accepted[0]?.endedByClient).toBe(false);
  });

  test('a connection that sent part of a request is not closed as idle: a request is on its way in (within the arrival bound, here the deadline)', async () => {
    const { tracker, port, accepted } = await serveHttp(
      (_req, res) => res.end('ok'),
      (server) => (server.keepAliveTimeout = 200),
    );
    const client = await connectRaw(port);
    client.send('GET /partial HTTP/1.1\r\nHost: x\r\n');
    await waitFor('the bytes to arrive', () => (accepted[0]?.socket.bytesRead ?? 0) > 0);
    expect(tracker.counts()).toEqual(counts(1, 0, 1, 0));
    const started = Date.now();
    const drained = tracker.drain(2500);
    // Well past the 200 ms + 1 s grace an idle socket would get.
    await sleepUntil(started, 2000);
    expect(client.closed).toBe(false);
    const result = await within(drained, PROMPT_MS, 'the deadline');
    expect(result.forced).toBe(1);
    await client.untilClosed(PROMPT_MS);
  });

  test('keepAliveTimeout = 0 (no timer of Node’s): idle sockets get a 5 s grace from the tracker', async () => {
    const { tracker, port, accepted } = await serveHttp(
      (_req, res) => res.end('ok'),
      (s) => (s.keepAliveTimeout = 0),
    );
    // Taken before the server can see each socket go idle, so the idle times measured below are
    // never longer than the server's own.
    const silentSince = Date.now();
    const silent = await connectRaw(port);
    const used = await connectRaw(port);
    const usedSince = Date.now();
    used.get('/');
    expect((await used.response()).headers.connection).toBe('keep-alive');
    await waitFor('both tracked and idle', () => tracker.counts().idle === 2);

    const started = Date.now();
    const drained = tracker.drain(30_000);
    await sleepUntil(started, 2500);
    expect(silent.closed).toBe(false);
    expect(used.closed).toBe(false);
    expect(tracker.counts()).toEqual(counts(2, 0, 2, 0));

    const result = await within(drained, started + 5000 + MARGIN_MS - Date.now(), 'the tracker to close both');
    expect(result.forced).toBe(0);
    expect(silent.closed && used.closed).toBe(true);
    expect(accepted.map((a) => a.endedByClient)).toEqual([false, false]);
    // Each was idle for the whole 5 s grace before the tracker closed it.
    expect((silent.closedAt as number) - silentSince).toBeGreaterThanOrEqual(5000);
    expect((used.closedAt as number) - usedSince).toBeGreaterThanOrEqual(5000);
  });
});

describe('upgraded sockets', () => {
  const UPGRADE_REQUEST = 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n';

  function echoUpgrade(server: http.Server, seen: Duplex[]): void {
    server.on('upgrade', (_req: http.IncomingMessage, socket: Duplex) => {
      seen.push(socket);
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
      socket.on('data', (data: Buffer) => socket.write(data));
      // The http server's sockets allow half-open connections: after an upgrade, ending is the app's job.
      socket.on('end', () => socket.end());
    });
  }

  async function upgrade(port: number): Promise<RawClient> {
    const client = await connectRaw(port);
    client.send(UPGRADE_REQUEST);
    const res = await client.response();
    expect(res.status).toBe(101);
    client.send('ping');
    expect(await client.read(4)).toBe('ping');
    return client;
  }

  test('the tracker adds no upgrade listener of its own: without the app’s, an Upgrade request is a plain request', async () => {
    const { server, port } = await serveHttp((req, res) => res.end(`plain ${req.headers.upgrade}`));
    expect(server.listenerCount('upgrade')).toBe(0);
    const client = await connectRaw(port);
    client.send(UPGRADE_REQUEST);
    const res = await client.response();
    expect(res.status).toBe(200);
    expect(res.body).toBe('plain echo');
  });

  test('an app listener added after the tracker: counted as upgraded and listed in upgradedSockets()', async () => {
    const seen: Duplex[] = [];
    const { server, tracker, port } = await serveHttp((_req, res) => res.end('plain'));
    echoUpgrade(server, seen);
    const ws = await upgrade(port);
    expect(seen).toHaveLength(1);
    expect(tracker.counts()).toEqual(counts(1, 0, 0, 1));
    expect(tracker.upgradedSockets()).toEqual(seen);

    // An ordinary keep-alive connection next to it.
    const plain = await connectRaw(port);
    plain.get('/');
    await plain.response();
    await waitFor(
      'the plain response to finish',
      () => tracker.counts().activeRequests === 0 && tracker.counts().sockets === 2,
    );
    expect(tracker.counts()).toEqual(counts(2, 0, 1, 1));
    expect(tracker.upgradedSockets()).toEqual(seen);

    ws.socket.destroy();
    await waitFor('the upgraded socket to be forgotten', () => tracker.counts().upgraded === 0);
    expect(tracker.counts()).toEqual(counts(1, 0, 1, 0));
    expect(tracker.upgradedSockets()).toEqual([]);
  });

  test('an app listener added before the tracker is followed too', async () => {
    const seen: Duplex[] = [];
    const server = http.createServer((_req, res) => res.end('plain'));
    echoUpgrade(server, seen);
    const { tracker, port } = await track(server);
    await upgrade(port);
    expect(tracker.counts()).toEqual(counts(1, 0, 0, 1));
    expect(tracker.upgradedSockets()).toEqual(seen);
  });

  test('drain leaves upgraded sockets to the app (they keep working past the idle grace); the deadline closes them', async () => {
    const seen: Duplex[] = [];
    const { server, tracker, port } = await serveHttp(
      (_req, res) => res.end('plain'),
      (s) => (s.keepAliveTimeout = 100),
    );
    echoUpgrade(server, seen);
    const ws = await upgrade(port);

    const started = Date.now();
    const drained = tracker.drain(2500);
    // Past the 100 ms + 1 s grace an idle socket would get.
    await sleepUntil(started, 1600);
    expect(ws.closed).toBe(false);
    ws.send('still here');
    expect(await ws.read(10)).toBe('still here');
    expect(tracker.upgradedSockets()).toEqual(seen);

    const result = await within(drained, PROMPT_MS, 'the deadline');
    expect(result.forced).toBe(1);
    await ws.untilClosed(PROMPT_MS);
    await waitFor('the tracker to forget it', () => tracker.counts().sockets === 0);
  });

  test('an upgraded socket the app closes when told (e.g. 1012) ends the drain without force', async () => {
    const seen: Duplex[] = [];
    const { server, tracker, port } = await serveHttp((_req, res) => res.end('plain'));
    echoUpgrade(server, seen);
    const ws = await upgrade(port);
    const drained = tracker.drain(20_000);
    for (const socket of tracker.upgradedSockets()) socket.end('bye');
    expect(await ws.read(3)).toBe('bye');
    await ws.untilClosed(PROMPT_MS);
    expect((await within(drained, PROMPT_MS, 'the drain')).forced).toBe(0);
  });
});

describe('the deadline', () => {
  test('destroys whatever is left and reports how many as forced', async () => {
    const arrived = deferred();
    const { tracker, port } = await serveHttp((req, res) => {
      if (req.url === '/hang') arrived.resolve();
      else res.end('ok');
    });
    const hanging = await connectRaw(port);
    hanging.get('/hang');
    await within(arrived.promise, PROMPT_MS, 'the hanging request');
    const idle = await connectRaw(port);
    idle.get('/');
    await idle.response();
    await waitFor('one active, one idle', () => tracker.counts().activeRequests === 1 && tracker.counts().idle === 1);
    expect(tracker.counts()).toEqual(counts(2, 1, 1, 0));

    const result = await within(tracker.drain(400), PROMPT_MS, 'the deadline');
    expect(result.forced).toBe(2);
    // A lower bound: the deadline does not fire before its time.
    expect(result.durationMs).toBeGreaterThanOrEqual(300);
    await hanging.untilClosed(PROMPT_MS);
    await idle.untilClosed(PROMPT_MS);
    await waitFor('the tracker to forget them', () => tracker.counts().sockets === 0);
  });

  test('destroyAll() closes every socket at once and returns the count', async () => {
    const { tracker, port } = await serveHttp((_req, res) => res.end('ok'));
    const clients = await Promise.all([connectRaw(port), connectRaw(port)]);
    await waitFor('two tracked', () => tracker.counts().sockets === 2);
    expect(tracker.destroyAll()).toBe(2);
    for (const client of clients) await client.untilClosed(PROMPT_MS);
    await waitFor('none tracked', () => tracker.counts().sockets === 0);
    expect(tracker.destroyAll()).toBe(0);
  });
});

describe('stopAccepting()', () => {
  test('stops new connections while existing ones keep working, untouched', async () => {
    const { server, tracker, port } = await serveHttp((req, res) => res.end(`hi ${req.url}`));
    const client = await connectRaw(port);
    client.get('/a');
    expect((await client.response()).body).toBe('hi /a');

    tracker.stopAccepting();
    expect(server.listening).toBe(false);
    expect(tracker.draining).toBe(false);
    await expect(connectRaw(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });

    // The idle keep-alive socket was not closed (http.Server#close() would have), and serves on.
    await sleep(100);
    expect(client.closed).toBe(false);
    client.get('/b');
    const res = await client.response();
    expect(res.body).toBe('hi /b');
    // Not draining: no Connection: close yet.
    expect(res.headers.connection).toBe('keep-alive');

    // Idempotent.
    expect(() => tracker.stopAccepting()).not.toThrow();
    expect(tracker.counts()).toEqual(counts(1, 0, 1, 0));

    // A later drain still drains what is there.
    const drained = tracker.drain(20_000);
    client.get('/c');
    expect((await client.response()).headers.connection).toBe('close');
    expect((await within(drained, PROMPT_MS, 'the drain')).forced).toBe(0);
  });
});

describe('a plain net.Server', () => {
  async function echoServer(): Promise<Served<net.Server>> {
    return track(net.createServer((socket) => socket.pipe(socket)));
  }

  test('its sockets are tracked; no HTTP listeners are added', async () => {
    const { server, tracker, port } = await echoServer();
    expect(server.listenerCount('request')).toBe(0);
    expect(server.listenerCount('newListener')).toBe(0);
    const a = await connectRaw(port);
    const b = await connectRaw(port);
    a.send('hello');
    expect(await a.read(5)).toBe('hello');
    await waitFor('two tracked', () => tracker.counts().sockets === 2);
    expect(tracker.counts()).toEqual(counts(2, 0, 2, 0));
    expect(tracker.upgradedSockets()).toEqual([]);
    b.socket.destroy();
    await waitFor('one left', () => tracker.counts().sockets === 1);
  });

  test('drain stops accepting, keeps a busy connection working, and ends when the client ends', async () => {
    const { server, tracker, port } = await echoServer();
    const a = await connectRaw(port);
    a.send('one');
    expect(await a.read(3)).toBe('one');
    const drained = tracker.drain(20_000);
    expect(server.listening).toBe(false);
    await expect(connectRaw(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    a.send('two');
    expect(await a.read(3)).toBe('two');
    a.socket.end();
    expect((await within(drained, PROMPT_MS, 'the drain')).forced).toBe(0);
  });

  test('the deadline closes a connection still open', async () => {
    const { tracker, port } = await echoServer();
    const a = await connectRaw(port);
    a.send('x');
    expect(await a.read(1)).toBe('x');
    const result = await within(tracker.drain(500), PROMPT_MS, 'the deadline');
    expect(result.forced).toBe(1);
    await a.untilClosed(PROMPT_MS);
  });
});

// TLS: a throw-away self-signed certificate made at test time (test/helpers/tls.ts).
(HAS_OPENSSL ? describe : describe.skip)('an https server (tracked on secureConnection)', () => {
  test('counts TLS connections and requests; drain marks in-flight and late requests Connection: close', async () => {
    const arrived = deferred();
    const release = deferred();
    const { tracker, port } = await track(
      https.createServer(tlsCredentials(), (req, res) => {
        if (req.url === '/slow') {
          arrived.resolve();
          void release.promise.then(() => res.end('slow done'));
        } else {
          res.end(`fast ${req.url}`);
        }
      }),
    );
    const slow = await connectTls(port);
    const fast = await connectTls(port);
    await waitFor('two TLS connections', () => tracker.counts().sockets === 2);
    expect(tracker.counts()).toEqual(counts(2, 0, 2, 0));
    fast.get('/a');
    expect((await fast.response()).headers.connection).toBe('keep-alive');
    slow.get('/slow');
    await within(arrived.promise, PROMPT_MS, 'the slow request');
    await waitFor('one active request', () => tracker.counts().activeRequests === 1 && tracker.counts().idle === 1);

    const drained = tracker.drain(20_000);
    release.resolve();
    const slowRes = await slow.response();
    expect(slowRes.body).toBe('slow done');
    expect(slowRes.headers.connection).toBe('close');
    fast.get('/b');
    const late = await fast.response();
    expect(late.body).toBe('fast /b');
    expect(late.headers.connection).toBe('close');
    expect((await within(drained, PROMPT_MS, 'the drain')).forced).toBe(0);
  });
});
