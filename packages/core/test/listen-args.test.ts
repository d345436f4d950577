import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BatonError } from '../src/errors';
import { parseListenArgs } from '../src/internal/listen-args';

const CWD = '/srv/app';
const cb = (): void => undefined;

function parse(...args: unknown[]): ReturnType<typeof parseListenArgs> {
  return parseListenArgs(args, CWD);
}

function rejection(args: unknown[]): BatonError {
  try {
    parseListenArgs(args, CWD);
  } catch (error) {
    return error as BatonError;
  }
  throw new Error(`parseListenArgs(${args.length} args) did not throw`);
}

describe('parseListenArgs: every net.Server.listen form', () => {
  test('no arguments: any port on every interface', () => {
    const r = parse();
    expect(r).toEqual({ key: 'tcp:*:0', options: { port: 0 } });
    expect('callback' in r).toBe(false);
  });

  test('callback only', () => {
    const r = parse(cb);
    expect(r.key).toBe('tcp:*:0');
    expect(r.options).toEqual({ port: 0 });
    expect(r.callback).toBe(cb);
  });

  test('port', () => {
    expect(parse(9527)).toEqual({ key: 'tcp:*:9527', options: { port: 9527 } });
    expect(parse(0).key).toBe('tcp:*:0');
  });

  test('port + host', () => {
    expect(parse(9527, '127.0.0.1')).toEqual({ key: 'tcp:127.0.0.1:9527', options: { port: 9527, host: '127.0.0.1' } });
    expect(parse(9527, 'localhost').key).toBe('tcp:localhost:9527');
    // An empty host means every interface, as in net.
    expect(parse(80, '').key).toBe('tcp:*:80');
  });

  test('IPv6 hosts are bracketed in the key', () => {
    expect(parse(80, '::1').key).toBe('tcp:[::1]:80');
    expect(parse(80, '::').key).toBe('tcp:[::]:80');
    expect(parse({ port: 443, host: 'fe80::1' }).key).toBe('tcp:[fe80::1]:443');
  });

  test('port + host + backlog', () => {
    expect(parse(9527, '127.0.0.1', 511)).toEqual({
      key: 'tcp:127.0.0.1:9527',
      options: { port: 9527, host: '127.0.0.1', backlog: 511 },
    });
  });

  test('port + host + backlog + callback', () => {
    const r = parse(9527, '127.0.0.1', 100, cb);
    expect(r.options).toEqual({ port: 9527, host: '127.0.0.1', backlog: 100 });
    expect(r.callback).toBe(cb);
    expect(r.key).toBe('tcp:127.0.0.1:9527');
  });

  test('port + backlog (a number where the host would be)', () => {
    expect(parse(8080, 64)).toEqual({ key: 'tcp:*:8080', options: { port: 8080, backlog: 64 } });
  });

  test('port + callback', () => {
    const r = parse(3000, cb);
    expect(r).toEqual({ key: 'tcp:*:3000', options: { port: 3000 }, callback: cb });
  });

  test('port + host + callback', () => {
    const r = parse(3000, '0.0.0.0', cb);
    expect(r).toEqual({ key: 'tcp:0.0.0.0:3000', options: { port: 3000, host: '0.0.0.0' }, callback: cb });
  });

  test('a numeric string is a port, as in net', () => {
    expect(parse('9527')).toEqual({ key: 'tcp:*:9527', options: { port: 9527 } });
    expect(parse('9527', '127.0.0.1').key).toBe('tcp:127.0.0.1:9527');
    expect(parse(' 80 ').options).toEqual({ port: 80 });
    expect(typeof parse('9527').options.port).toBe('number');
  });

  test('null or undefined port: any port', () => {
    expect(parse(null).key).toBe('tcp:*:0');
    expect(parse(undefined, '127.0.0.1').key).toBe('tcp:127.0.0.1:0');
    expect(parse(null, cb).callback).toBe(cb);
    // A null host is no host.
    expect(parse(80, null).key).toBe('tcp:*:80');
  });

  test('a path string is a unix socket, resolved against the start-up directory', () => {
    expect(parse('app.sock')).toEqual({ key: `unix:${path.join(CWD, 'app.sock')}`, options: { path: 'app.sock' } });
    expect(parse('/run/app.sock').key).toBe('unix:/run/app.sock');
    expect(parse('../run/app.sock').key).toBe('unix:/srv/run/app.sock');
    // A negative number as a string is a pipe name for net too.
    expect(parse('-1').key).toBe(`unix:${path.join(CWD, '-1')}`);
  });

  test('path + backlog + callback', () => {
    const r = parse('/run/app.sock', 128, cb);
    expect(r).toEqual({ key: 'unix:/run/app.sock', options: { path: '/run/app.sock', backlog: 128 }, callback: cb });
  });

  test('a relative unix path keeps naming the start-up directory whatever the current one is', () => {
    const other = parseListenArgs(['app.sock'], os.tmpdir());
    expect(other.key).toBe(`unix:${path.join(os.tmpdir(), 'app.sock')}`);
    expect(parse('app.sock').key).not.toBe(other.key);
  });

  test('abstract unix sockets (leading NUL) are not resolved as files', () => {
    expect(parse('\0baton-abstract').key).toBe('unix:\0baton-abstract');
    expect(parse({ path: '\0abstract' }).key).toBe('unix:\0abstract');
  });

  test('options object: port and host', () => {
    expect(parse({ port: 9527, host: '127.0.0.1' })).toEqual({
      key: 'tcp:127.0.0.1:9527',
      options: { port: 9527, host: '127.0.0.1' },
    });
  });

  test('options object: string port becomes a number', () => {
    const r = parse({ port: '8080' });
    expect(r.options.port).toBe(8080);
    expect(r.key).toBe('tcp:*:8080');
  });

  test('options object: everything else is passed through untouched', () => {
    const r = parse({ port: 80, host: '::', ipv6Only: true, backlog: 50, exclusive: true }, cb);
    expect(r.options).toEqual({ port: 80, host: '::', ipv6Only: true, backlog: 50, exclusive: true });
    expect(r.key).toBe('tcp:[::]:80');
    expect(r.callback).toBe(cb);
  });

  test('options object is copied, not mutated', () => {
    const given = { port: '81' };
    const r = parse(given);
    expect(given).toEqual({ port: '81' });
    expect(r.options).not.toBe(given);
  });

  test('options object: null host is no host', () => {
    const r = parse({ port: 80, host: null });
    expect(r.key).toBe('tcp:*:80');
  });

  test('options object: no port means any port', () => {
    expect(parse({}).key).toBe('tcp:*:0');
    expect(parse({ host: '127.0.0.1' }).key).toBe('tcp:127.0.0.1:0');
    expect(parse({ port: undefined }).key).toBe('tcp:*:0');
  });

  test('options object: path', () => {
    expect(parse({ path: 'x.sock', readableAll: true })).toEqual({
      key: `unix:${path.join(CWD, 'x.sock')}`,
      options: { path: 'x.sock', readableAll: true },
    });
    expect(parse({ path: '/run/a.sock' }, 99).options).toEqual({ path: '/run/a.sock', backlog: 99 });
  });

  test('options object: backlog in the object wins over a positional one', () => {
    expect(parse({ port: 1, backlog: 10 }, 20).options.backlog).toBe(10);
    expect(parse({ port: 1 }, 20).options.backlog).toBe(20);
  });

  test('{ fd }', () => {
    expect(parse({ fd: 3 })).toEqual({ key: 'fd:3', options: { fd: 3 } });
    expect(parse({ fd: 0 }).key).toBe('fd:0');
    const r = parse({ fd: 7 }, cb);
    expect(r.key).toBe('fd:7');
    expect(r.callback).toBe(cb);
  });

  test('{ fd } wins over a port in the same object', () => {
    expect(parse({ fd: 4, port: 80 }).key).toBe('fd:4');
  });

  test('every key is parseable by a real net.Server (the options are valid listen options)', async () => {
    const server = net.createServer();
    const r = parse(0, '127.0.0.1', 5);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(r.options, resolve);
    });
    const address = server.address() as net.AddressInfo;
    expect(address.address).toBe('127.0.0.1');
    expect(address.port).toBeGreaterThan(0);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});

describe('parseListenArgs: bad arguments throw ERR_BATON_INVALID_LISTEN_ARGS naming the value', () => {
  const badPorts: Array<[string, unknown[], string]> = [
    ['negative', [-1], '-1'],
    ['too big', [65536], '65536'],
    ['fractional', [80.5], '80.5'],
    ['NaN', [Number.NaN], 'null'], // JSON.stringify(NaN)
    ['Infinity', [Number.POSITIVE_INFINITY], 'null'],
    ['too big as a string', ['65536'], '"65536"'],
    ['boolean', [true], 'true'],
    ['too big, with host', [70000, '127.0.0.1'], '70000'],
    ['options object, negative', [{ port: -5 }], '-5'],
    ['options object, too big', [{ port: 99999 }], '99999'],
    ['options object, not a number', [{ port: 'http' }], '"http"'],
    ['options object, fractional string', [{ port: '80.5' }], '"80.5"'],
    // net treats a string that is a non-negative number as a port (and rejects these as bad ports);
    // anything else would silently become a unix socket file named "80.5" or the start-up directory.
    ['fractional string', ['80.5'], '"80.5"'],
    ['empty string', [''], '""'],
    ['blank string', ['  '], '"  "'],
  ];

  test.each(badPorts)('bad port: %s', (_label, args, shown) => {
    const error = rejection(args);
    expect(error).toBeInstanceOf(BatonError);
    expect(error.code).toBe('ERR_BATON_INVALID_LISTEN_ARGS');
    expect(error.message).toContain(`port ${shown}`);
  });

  const badHosts: Array<[string, unknown[], string]> = [
    ['object', [80, { host: 'x' }], '{"host":"x"}'],
    ['boolean', [80, true], 'true'],
    ['array', [80, ['127.0.0.1']], '["127.0.0.1"]'],
    ['options object, number', [{ port: 80, host: 42 }], '42'],
    ['options object, object', [{ port: 80, host: {} }], '{}'],
  ];

  test.each(badHosts)('bad host: %s', (_label, args, shown) => {
    const error = rejection(args);
    expect(error).toBeInstanceOf(BatonError);
    expect(error.code).toBe('ERR_BATON_INVALID_LISTEN_ARGS');
    expect(error.message).toContain(`host ${shown}`);
  });

  test('bad fd', () => {
    for (const fd of [-1, 1.5, '3']) {
      const error = rejection([{ fd }]);
      expect(error.code).toBe('ERR_BATON_INVALID_LISTEN_ARGS');
      expect(error.message).toContain(`fd ${JSON.stringify(fd)}`);
    }
  });

  test('bad path in an options object', () => {
    for (const p of ['', 42]) {
      const error = rejection([{ path: p }]);
      expect(error.code).toBe('ERR_BATON_INVALID_LISTEN_ARGS');
      expect(error.message).toContain(`path ${JSON.stringify(p)}`);
    }
  });

  test('a server or handle object is refused with a pointer to { fd }', () => {
    const other = net.createServer();
    const error = rejection([other]);
    expect(error.code).toBe('ERR_BATON_INVALID_LISTEN_ARGS');
    expect(error.message).toContain('{ fd }');
  });

  test('the message shows the whole call, with functions as [function]', () => {
    const error = rejection([-3, '127.0.0.1', cb]);
    expect(error.message).toBe('listen(-3, "127.0.0.1", [function]): port -3 must be a whole number from 0 to 65535');
  });
});
