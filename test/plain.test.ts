import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import express from 'express';
import Koa from 'koa';
import supertest from 'supertest';
import { configure, status } from '@baton/core';
import * as batonExpress from '@baton/express';
import * as batonKoa from '@baton/koa';
import { tempDir } from './helpers/processes';

// Run plainly (no reload, in this jest worker), listen(app, ...) is app.listen(...): the same
// http.Server, the same argument forms, the callback, address(), supertest.

// Express 4 and Koa 2 are installed under aliases; their types are those of the current majors.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const express4 = require('express4') as typeof express;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Koa2 = require('koa2') as typeof Koa;

// The first listen() installs SIGHUP/SIGTERM/SIGINT handlers unless told not to: this is the jest
// worker, whose signals are not ours. Silent, too: the worker's stderr is the test report.
const signalsBefore = ['SIGHUP', 'SIGTERM', 'SIGINT'].map((signal) => process.listenerCount(signal));
configure({ handleSignals: false, logLevel: 'silent' });

type Listen = (app: never, ...args: unknown[]) => http.Server;
type NativeListen = (...args: unknown[]) => http.Server;

interface Flavour {
  name: string;
  /** A fresh app answering GET /hello with `hello <name>`. */
  app(): { app: unknown; nativeListen: NativeListen };
  listen: Listen;
}

function expressFlavour(name: string, factory: typeof express): Flavour {
  return {
    name,
    listen: batonExpress.listen as Listen,
    app() {
      const app = factory();
      app.get('/hello', (_req, res) => {
        res.send(`hello ${name}`);
      });
      return { app, nativeListen: app.listen.bind(app) as NativeListen };
    },
  };
}

function koaFlavour(name: string, Factory: typeof Koa): Flavour {
  return {
    name,
    listen: batonKoa.listen as Listen,
    app() {
      const app = new Factory();
      app.use((ctx) => {
        if (ctx.path === '/hello') ctx.body = `hello ${name}`;
      });
      return { app, nativeListen: app.listen.bind(app) as NativeListen };
    },
  };
}

const flavours: Flavour[] = [
  expressFlavour('express', express),
  expressFlavour('express4', express4),
  koaFlavour('koa', Koa),
  koaFlavour('koa2', Koa2),
];

const open: net.Server[] = [];
afterEach(async () => {
  await Promise.all(
    open
      .splice(0)
      .map((server) => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()))),
  );
});

function track<S extends net.Server>(server: S): S {
  open.push(server);
  return server;
}

/** Calls listen with `args` plus a callback; resolves with the server once the callback fired. */
function listenWithCallback(
  listen: (...args: unknown[]) => http.Server,
  args: unknown[],
): Promise<{ server: http.Server; returned: http.Server }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`listen(${JSON.stringify(args)}) callback never fired`)), 10_000);
    const returned: http.Server = track(
      listen(...args, () => {
        clearTimeout(timer);
        // net calls it asynchronously, after listen() returned: `returned` is set by now.
        setImmediate(() => resolve({ server: returned, returned }));
      }),
    );
  });
}

async function expectServes(server: http.Server, name: string): Promise<void> {
  const reply = await supertest(server).get('/hello');
  expect(reply.status).toBe(200);
  expect(reply.text).toBe(`hello ${name}`);
}

describe.each(flavours)('listen(app, ...) on $name', (flavour) => {
  test('returns an http.Server exactly like app.listen: same class, callback, address(), supertest', async () => {
    const ours = flavour.app();
    const theirs = flavour.app();
    const mine = await listenWithCallback((...args) => flavour.listen(ours.app as never, ...args), [0, '127.0.0.1']);
    const native = await listenWithCallback(theirs.nativeListen, [0, '127.0.0.1']);

    expect(mine.returned).toBeInstanceOf(http.Server);
    expect(Object.getPrototypeOf(mine.returned)).toBe(Object.getPrototypeOf(native.returned));
    expect(mine.returned.listening).toBe(true);
    const address = mine.returned.address() as net.AddressInfo;
    const nativeAddress = native.returned.address() as net.AddressInfo;
    expect(Object.keys(address).sort()).toEqual(Object.keys(nativeAddress).sort());
    expect(address).toMatchObject({ address: '127.0.0.1', family: 'IPv4' });
    expect(address.port).toBeGreaterThan(0);

    await expectServes(mine.returned, flavour.name);
    await expectServes(native.returned, flavour.name);
  });

  test.each([
    ['(port, host, callback)', [0, '127.0.0.1'], '127.0.0.1'],
    ['(port, callback)', [0], undefined],
    ['(port as a string, host, callback)', ['0', '127.0.0.1'], '127.0.0.1'],
    ['(port, host, backlog, callback)', [0, '127.0.0.1', 64], '127.0.0.1'],
    ['(options, callback)', [{ port: 0, host: '127.0.0.1' }], '127.0.0.1'],
    ['(options with backlog, callback)', [{ port: 0, host: '127.0.0.1', backlog: 16 }], '127.0.0.1'],
    ['(callback) alone', [], undefined],
  ])('%s', async (_form, args, host) => {
    const { app } = flavour.app();
    const { server } = await listenWithCallback((...a) => flavour.listen(app as never, ...a), args as unknown[]);
    const address = server.address() as net.AddressInfo | string | null;
    // A TCP address: not null (not listening), not a string (a pipe).
    expect(address).toEqual(
      expect.objectContaining({ port: expect.any(Number), family: expect.any(String), address: expect.any(String) }),
    );
    const tcp = address as net.AddressInfo;
    expect(tcp.port).toBeGreaterThan(0);
    if (host !== undefined) expect(tcp.address).toBe(host);
    await expectServes(server, flavour.name);
  });

  test('a fixed port given as a number, like app.listen(port)', async () => {
    // A port that was free a moment ago; app.listen and listen behave the same on it.
    const probe = track(net.createServer());
    const port = await new Promise<number>((resolve) =>
      probe.listen(0, '127.0.0.1', () => resolve((probe.address() as net.AddressInfo).port)),
    );
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const { app } = flavour.app();
    const { server } = await listenWithCallback((...a) => flavour.listen(app as never, ...a), [port, '127.0.0.1']);
    expect((server.address() as net.AddressInfo).port).toBe(port);
    await expectServes(server, flavour.name);
  });

  test.each([
    ['(port, host)', [0, '127.0.0.1']],
    ['() with no arguments at all', []],
  ])('no callback %s: returns the server, which emits listening', async (_form, args) => {
    const { app } = flavour.app();
    const server = track(flavour.listen(app as never, ...(args as unknown[])));
    expect(server).toBeInstanceOf(http.Server);
    if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
    expect((server.address() as net.AddressInfo).port).toBeGreaterThan(0);
    await expectServes(server, flavour.name);
  });

  test.each([
    ['(path, callback)', (socket: string) => [socket]],
    ['({ path }, callback)', (socket: string) => [{ path: socket }]],
  ])('a unix socket in a temp dir: %s', async (_form, args) => {
    const socketPath = path.join(tempDir(), `${flavour.name}.sock`);
    const { app } = flavour.app();
    const { server } = await listenWithCallback((...a) => flavour.listen(app as never, ...a), args(socketPath));
    expect(server.address()).toBe(socketPath);
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
    expect(body).toBe(`hello ${flavour.name}`);
  });

  test('a port in use: the server emits error EADDRINUSE, like app.listen without a callback', async () => {
    const taken = track(net.createServer());
    const port = await new Promise<number>((resolve) =>
      taken.listen(0, '127.0.0.1', () => resolve((taken.address() as net.AddressInfo).port)),
    );
    const { app } = flavour.app();
    const server = track(flavour.listen(app as never, port, '127.0.0.1'));
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => server.once('error', resolve));
    expect(error.code).toBe('EADDRINUSE');
    expect(server.listening).toBe(false);
  });
});

/**
 * Express 5's app.listen hands a listen error (EADDRINUSE) to the callback (`server.once('error', cb)`);
 * Express 4, Koa and net leave it to the 'error' event. @baton/express gives it to a callback that
 * takes an argument, as Express 5 does.
 */
describe('a listen error with a callback on express 5', () => {
  async function callbackError(
    listenWith: (port: number, cb: (error?: Error) => void) => http.Server,
  ): Promise<string | undefined> {
    const taken = track(net.createServer());
    const port = await new Promise<number>((resolve) =>
      taken.listen(0, '127.0.0.1', () => resolve((taken.address() as net.AddressInfo).port)),
    );
    let given: Error | undefined;
    const server = track(listenWith(port, (error) => (given = error)));
    // Our own listener keeps the jest worker alive whichever way the error goes; it runs after
    // any listener the listen call added itself.
    await new Promise((resolve) => server.once('error', resolve));
    await new Promise((resolve) => setImmediate(resolve));
    return (given as NodeJS.ErrnoException | undefined)?.code;
  }

  test('app.listen(port, host, cb) calls cb(err) (what the migration must preserve)', async () => {
    const app = express();
    expect(await callbackError((port, cb) => app.listen(port, '127.0.0.1', cb))).toBe('EADDRINUSE');
  });

  test('listen(app, port, host, cb) calls cb(err) too', async () => {
    const app = express();
    expect(await callbackError((port, cb) => batonExpress.listen(app, port, '127.0.0.1', cb))).toBe('EADDRINUSE');
  });
});

test('supertest can start a server that is not listening yet, as with http.createServer(app)', async () => {
  // supertest(server) on a server that already listens uses its address (above); this is the other path.
  const app = express();
  app.get('/hello', (_req, res) => {
    res.send('hello');
  });
  const reply = await supertest(http.createServer(app)).get('/hello');
  expect(reply.text).toBe('hello');
});

test('configure({ handleSignals: false }) keeps the jest worker free of our signal handlers', () => {
  expect(['SIGHUP', 'SIGTERM', 'SIGINT'].map((signal) => process.listenerCount(signal))).toEqual(signalsBefore);
  // And the core did see the listeners above, in plain mode.
  const now = status();
  expect(now.mode).toBe('plain');
  expect(now.listeners.length).toBeGreaterThan(0);
});
