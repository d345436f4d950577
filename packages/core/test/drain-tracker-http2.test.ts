import http2 from 'node:http2';
import type net from 'node:net';
import { once } from 'node:events';
import { DrainTracker } from '../src/drain-tracker';

// HTTP/2 drains with GOAWAY: streams in flight finish, the client opens no new ones, sessions close.
let server: http2.Http2Server;
let tracker: DrainTracker;
let port: number;
const clients: http2.ClientHttp2Session[] = [];

beforeEach(async () => {
  server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const delay = headers[':path'] === '/slow' ? 400 : 0;
    setTimeout(() => {
      if (stream.destroyed) return;
      stream.respond({ ':status': 200 });
      stream.end('x'.repeat(64 * 1024));
    }, delay);
  });
  tracker = new DrainTracker(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as net.AddressInfo).port;
});

afterEach(() => {
  for (const client of clients.splice(0)) client.destroy();
  tracker.destroyAll();
  server.close();
});

function connect(): http2.ClientHttp2Session {
  const client = http2.connect(`http://127.0.0.1:${port}`);
  client.on('error', () => {});
  clients.push(client);
  return client;
}

function get(client: http2.ClientHttp2Session, path: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = client.request({ ':path': path });
    let status = 0;
    let bytes = 0;
    req.on('response', (headers) => (status = Number(headers[':status'])));
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => resolve({ status, bytes }));
    req.on('error', reject);
    req.end();
  });
}

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('counts sessions and streams', async () => {
  const client = connect();
  const slow = get(client, '/slow');
  await until(() => tracker.counts().activeRequests === 1);
  expect(tracker.counts()).toEqual({ sockets: 1, activeRequests: 1, idle: 0, upgraded: 0 });
  await slow;
  await until(() => tracker.counts().activeRequests === 0);
  expect(tracker.counts()).toEqual({ sockets: 1, activeRequests: 0, idle: 1, upgraded: 0 });
});

test('a stream in flight finishes, the client gets GOAWAY, the drain ends without force', async () => {
  const client = connect();
  const goaway = once(client, 'goaway');
  const slow = get(client, '/slow');
  await until(() => tracker.counts().activeRequests === 1);
  const drained = tracker.drain(20_000);
  await goaway;
  expect(await slow).toEqual({ status: 200, bytes: 64 * 1024 });
  expect((await drained).forced).toBe(0);
  expect(tracker.counts().sockets).toBe(0);
});

test('an idle session is closed by GOAWAY, not left to the deadline', async () => {
  const client = connect();
  expect(await get(client, '/')).toEqual({ status: 200, bytes: 64 * 1024 });
  const result = await tracker.drain(20_000);
  expect(result.forced).toBe(0);
  await until(() => client.closed || client.destroyed);
});
