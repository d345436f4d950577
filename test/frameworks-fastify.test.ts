// @baton/fastify: `await listen(fastify, options)` is `await fastify.listen(options)` (same socket, same
// resolved address, same log line, ready() awaited), run plainly in this jest worker like the Express and
// Koa adapters in plain.test.ts; then for real: reloads under keep-alive load and the probes.
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import { configure, health, listen, status } from '@baton/fastify';
import { request } from './helpers/http';
import { killAll, startServer, tempDir, waitFor, waitForPort } from './helpers/processes';
import { exitOf, writeBuild } from './helpers/service';
import { FRAMEWORKS, reloadUnderLoad, SIDE_SERVER, SIGNAL_COLLISION } from './fixtures/frameworks/reload-under-load';

// The first listen() installs SIGHUP/SIGTERM/SIGINT handlers unless told not to: this is the jest
// worker, whose signals are not ours. Silent, too: the worker's stderr is the test report.
configure({ handleSignals: false, logLevel: 'silent' });

const open: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((fastify) => fastify.close()));
  killAll();
});

/** A fresh instance answering GET /hello, logging into `lines`. */
function app(lines: string[] = []): FastifyInstance {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()).msg);
      done();
    },
  });
  const fastify = Fastify({ logger: { level: 'info', stream } });
  fastify.get('/hello', async () => 'hello fastify');
  open.push(fastify);
  return fastify;
}

function get(
  port: number,
  pathname: string,
  method = 'GET',
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return request(port, pathname, { method });
}

/** The address with its port replaced, to compare two servers on different ports. */
const shape = (address: string, port: number): string => address.replace(`:${port}`, ':PORT');

describe('listen(fastify, options) does what fastify.listen(options) does', () => {
  test.each([
    ['{ port: 0, host: 127.0.0.1 }', { port: 0, host: '127.0.0.1' }],
    ['{ port: 0 } (host localhost)', { port: 0 }],
    ['no options at all', undefined],
    ['{ port, host, backlog }', { port: 0, host: '127.0.0.1', backlog: 16 }],
    ['{ port: 0, host: 0.0.0.0 } (resolves with the first IPv4 interface)', { port: 0, host: '0.0.0.0' }],
  ])('%s: resolves with the same address, binds the same kind of socket, serves', async (_form, options) => {
    const ours = app();
    const theirs = app();
    const mine = await listen(ours, options);
    const native = await theirs.listen(options);
    const myAddress = ours.server.address() as net.AddressInfo;
    const nativeAddress = theirs.server.address() as net.AddressInfo;
    expect(shape(mine, myAddress.port)).toBe(shape(native, nativeAddress.port));
    expect({ ...myAddress, port: 0 }).toEqual({ ...nativeAddress, port: 0 });
    expect(myAddress.port).toBeGreaterThan(0);
    expect(ours.server).toBeInstanceOf(http.Server);
    const reply = await get(myAddress.port, '/hello');
    expect(reply).toMatchObject({ status: 200, body: 'hello fastify' });
  });

  test('a fixed port', async () => {
    const probe = net.createServer();
    const port = await new Promise<number>((resolve) =>
      probe.listen(0, '127.0.0.1', () => resolve((probe.address() as net.AddressInfo).port)),
    );
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const address = await listen(app(), { port, host: '127.0.0.1' });
    expect(address).toBe(`http://127.0.0.1:${port}`);
  });

  test('a unix socket path: resolves with the path, as fastify.listen does', async () => {
    const socketPath = path.join(tempDir(), 'fastify.sock');
    const fastify = app();
    expect(await listen(fastify, { path: socketPath })).toBe(socketPath);
    const body = await new Promise<string>((resolve, reject) => {
      http
        .get({ socketPath, path: '/hello', agent: false }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve(text));
        })
        .on('error', reject);
    });
    expect(body).toBe('hello fastify');
  });

  test('logs the same `Server listening at ...` line through fastify.log; listenTextResolver is honoured', async () => {
    const mine: string[] = [];
    const theirs: string[] = [];
    const myAddress = await listen(app(mine), { port: 0, host: '127.0.0.1' });
    const nativeAddress = await app(theirs).listen({ port: 0, host: '127.0.0.1' });
    expect(mine).toEqual([`Server listening at ${myAddress}`]);
    expect(theirs).toEqual([`Server listening at ${nativeAddress}`]);
    const resolved: string[] = [];
    const address = await listen(app(resolved), {
      port: 0,
      host: '127.0.0.1',
      listenTextResolver: (a) => `up on ${a}`,
    });
    expect(resolved).toEqual([`up on ${address}`]);
  });

  test('awaits fastify.ready(): plugins that load asynchronously are in before the socket listens', async () => {
    const fastify = app();
    fastify.register(async (instance) => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      instance.get('/late', async () => 'late route');
    });
    const address = await listen(fastify, { port: 0, host: '127.0.0.1' });
    const reply = await get(Number(new URL(address).port), '/late');
    expect(reply).toMatchObject({ status: 200, body: 'late route' });
  });

  test('a port in use rejects with EADDRINUSE, as fastify.listen does', async () => {
    const taken = app();
    const port = Number(new URL(await taken.listen({ port: 0, host: '127.0.0.1' })).port);
    await expect(app().listen({ port, host: '127.0.0.1' })).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await expect(listen(app(), { port, host: '127.0.0.1' })).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });

  test('{} listens on port 0 at localhost, where fastify.listen({}) throws (it defaults the port only without options)', async () => {
    await expect(app().listen({})).rejects.toThrow(/port/);
    const address = await listen(app(), {});
    expect(address).toMatch(/^http:\/\/(127\.0\.0\.1|\[::1\]):\d+$/);
  });

  test("the socket is baton's: status() lists one more listener, listening", async () => {
    const before = status().listeners.length;
    await listen(app(), { port: 0, host: '127.0.0.1' });
    const now = status();
    expect(now.mode).toBe('plain');
    expect(now.listeners.length).toBe(before + 1);
    expect(now.listeners[now.listeners.length - 1]).toMatchObject({
      key: expect.stringMatching(/^tcp:127\.0\.0\.1:0/),
      listening: true,
    });
  });
});

describe('health(): readiness and liveness routes as a Fastify plugin', () => {
  test('GET /ready and /live answer 200 while serving, HEAD too; other routes and methods are untouched', async () => {
    const fastify = app();
    fastify.register(health());
    const port = Number(new URL(await listen(fastify, { port: 0, host: '127.0.0.1' })).port);
    expect(await get(port, '/ready')).toMatchObject({
      status: 200,
      body: 'ready (serving)\n',
      headers: { 'cache-control': 'no-store' },
    });
    expect(await get(port, '/live')).toMatchObject({ status: 200, body: 'live (serving)\n' });
    expect(await get(port, '/ready', 'HEAD')).toMatchObject({ status: 200, body: '' });
    expect((await get(port, '/ready', 'POST')).status).toBe(404);
    expect(await get(port, '/hello')).toMatchObject({ status: 200, body: 'hello fastify' });
  });

  test('custom paths, and a register prefix', async () => {
    const fastify = app();
    fastify.register(health({ readyPath: '/healthz/ready', livePath: '/healthz/live' }));
    fastify.register(health(), { prefix: '/internal' });
    const port = Number(new URL(await listen(fastify, { port: 0, host: '127.0.0.1' })).port);
    expect((await get(port, '/healthz/ready')).status).toBe(200);
    expect((await get(port, '/healthz/live')).status).toBe(200);
    expect((await get(port, '/internal/ready')).status).toBe(200);
    expect((await get(port, '/ready')).status).toBe(404);
  });
});

describe('for real', () => {
  test('3 reloads under keep-alive load with uploads and streams: no failed request, /version follows the build; fastify.close() runs once at each exit', async () => {
    const { output, generations } = await reloadUnderLoad('fastify.js', { reloads: 3, uploadsAndStreams: true });
    for (const { pid } of generations)
      expect(output.match(new RegExp(`fastify onClose ${pid}\\b`, 'g'))?.length).toBe(1);
    expect(output).not.toMatch(SIGNAL_COLLISION);
    expect(output).not.toMatch(SIDE_SERVER);
  });

  test('health(): /ready turns 503 at SIGTERM and new requests are served through the shutdown delay; /live stays 200; exit 0 after onClose', async () => {
    const dir = tempDir();
    writeBuild(dir, '1.0');
    const server = startServer(path.join(FRAMEWORKS, 'fastify.js'), {
      BUILD_DIR: dir,
      BATON_SHUTDOWN_DELAY_MS: '1500',
    });
    const port = await waitForPort(server);
    expect(await request(port, '/ready')).toMatchObject({ status: 200, body: 'ready (serving)\n' });
    process.kill(server.pid, 'SIGTERM');
    await waitFor(
      '/ready to answer 503',
      async () => ((await request(port, '/ready')).status === 503 ? true : undefined),
      1500,
    );
    expect((await request(port, '/live')).status).toBe(200);
    expect((await request(port, '/version')).status).toBe(200);
    expect(await exitOf(server)).toEqual({ code: 0, signal: null });
    expect(server.output()).toMatch(new RegExp(`fastify onClose ${server.pid}\\b`));
  });
});
