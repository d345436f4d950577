// Issue 8, fault 6: HTTP/1.1 pipelining across a reload. A client that wrote 5 requests at once saw the
// old generation run all 5 and answer 1: Connection: close went on the first response of the pipeline
// and Node closed the socket right after it. Now every request already read is answered and the close
// goes on the last one, whether the requests were read before the drain started or during it. With
// connection migration (issue 13) the socket instead moves once the last response is written.
import net from 'node:net';
import path from 'node:path';
import { FIXTURES, killAll, startServer, waitForPort, type Server } from './helpers/processes';
import { DEPLOYED_ENV, exitOf, waitForOutput } from './helpers/service';

const APP = path.join(FIXTURES, 'drain-faults-app.js');
const PIPELINE = 5;

afterEach(killAll);

interface Reply {
  status: number;
  connection?: string;
  body: string;
}

/** A raw socket: what was written goes out as one write; responses are read one by one. */
class PipeliningClient {
  private text = '';
  private wake: () => void = () => undefined;
  closed = false;
  readonly socket: net.Socket;

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setEncoding('latin1');
    this.socket.on('data', (chunk: string) => {
      this.text += chunk;
      this.wake();
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    this.socket.on('error', () => undefined);
  }

  get received(): number {
    return this.text.length;
  }

  send(paths: string[]): void {
    this.socket.write(paths.map((p) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''));
  }

  async response(timeoutMs = 20_000): Promise<Reply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.text.indexOf('\r\n\r\n');
      if (end >= 0) {
        const head = this.text.slice(0, end);
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (this.text.length >= end + 4 + length) {
          const body = this.text.slice(end + 4, end + 4 + length);
          this.text = this.text.slice(end + 4 + length);
          return {
            status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]),
            connection: /\r\nconnection: *([^\r]*)/i.exec(head)?.[1],
            body,
          };
        }
      }
      if (this.closed) throw new Error(`closed while waiting for a response; left: ${JSON.stringify(this.text)}`);
      if (Date.now() > deadline) throw new Error(`no response within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  async responses(count: number): Promise<Reply[]> {
    const replies: Reply[] = [];
    for (let i = 0; i < count; i++) replies.push(await this.response());
    return replies;
  }

  async untilClosed(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error(`still open after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

function start(migrate = false): Server {
  // No rollback window: the old generation drains as soon as its successor is ready. The polite drain
  // (what TLS connections, and every connection with BATON_MIGRATE_CONNECTIONS=0, get) unless `migrate`.
  return startServer(APP, {
    ...DEPLOYED_ENV,
    BATON_SETTLE_MS: '0',
    BATON_MIGRATE_CONNECTIONS: migrate ? '1' : '0',
  });
}

function paths(prefix: string, query = ''): string[] {
  return Array.from({ length: PIPELINE }, (_, i) => `/${prefix}-${i + 1}${query}`);
}

test(`${PIPELINE} requests written at once, in flight when the reload starts: the old generation answers all ${PIPELINE}, the last with Connection: close`, async () => {
  const server = start();
  const client = new PipeliningClient(await waitForPort(server));
  // Each is answered 5 s after it arrived: long after the successor is up and the drain has started.
  client.send(paths('p', '?ms=5000'));
  await waitForOutput(server, new RegExp(`^request /p-\\d ${server.pid}$`, 'm'), PIPELINE);

  process.kill(server.pid, 'SIGHUP');
  await waitForOutput(server, new RegExp(`^draining ${server.pid}$`, 'm'));
  expect(client.received).toBe(0); // The drain started with all five in flight.

  const replies = await client.responses(PIPELINE);
  expect(replies.map((r) => r.body)).toEqual(paths('p').map((p) => `${p} pid=${server.pid}`));
  expect(replies.map((r) => r.connection)).toEqual(['keep-alive', 'keep-alive', 'keep-alive', 'keep-alive', 'close']);
  await client.untilClosed();
  expect(await exitOf(server)).toEqual({ code: 0, signal: null });
  expect(server.output()).not.toMatch(/by force/);
});

test(`${PIPELINE} requests written at once on an old keep-alive socket during the drain (answered at once, each before the next is parsed): all answered by the old generation, the last with Connection: close`, async () => {
  const server = start();
  const port = await waitForPort(server);
  const client = new PipeliningClient(port);
  client.send(['/warm']);
  expect(await client.response()).toMatchObject({ connection: 'keep-alive', body: `/warm pid=${server.pid}` });
  // A long request keeps the old generation draining while the pipeline arrives.
  const holder = new PipeliningClient(port);
  holder.send(['/hold?ms=3000']);
  await waitForOutput(server, new RegExp(`^request /hold ${server.pid}$`, 'm'));

  process.kill(server.pid, 'SIGHUP');
  await waitForOutput(server, new RegExp(`^draining ${server.pid}$`, 'm'));
  client.send(paths('q'));

  const replies = await client.responses(PIPELINE);
  expect(replies.map((r) => r.body)).toEqual(paths('q').map((p) => `${p} pid=${server.pid}`));
  expect(replies.map((r) => r.connection)).toEqual(['keep-alive', 'keep-alive', 'keep-alive', 'keep-alive', 'close']);
  await client.untilClosed();
  expect(await holder.response()).toMatchObject({ connection: 'close', body: `/hold pid=${server.pid}` });
  expect(await exitOf(server)).toEqual({ code: 0, signal: null });
  expect(server.output()).not.toMatch(/by force/);
});

test(`with migration: ${PIPELINE} pipelined requests in flight at the reload are all answered by the old generation, none with Connection: close, and the connection then moves to the new one`, async () => {
  const server = start(true);
  const client = new PipeliningClient(await waitForPort(server));
  client.send(paths('m', '?ms=2000'));
  await waitForOutput(server, new RegExp(`^request /m-\\d ${server.pid}$`, 'm'), PIPELINE);

  process.kill(server.pid, 'SIGHUP');
  await waitForOutput(server, new RegExp(`^draining ${server.pid}$`, 'm'));
  expect(client.received).toBe(0); // The drain started with all five in flight.

  const replies = await client.responses(PIPELINE);
  expect(replies.map((r) => r.body)).toEqual(paths('m').map((p) => `${p} pid=${server.pid}`));
  expect(replies.map((r) => r.connection)).toEqual(Array(PIPELINE).fill('keep-alive'));
  expect(await exitOf(server)).toEqual({ code: 0, signal: null });
  // Once the last response was written the socket was idle, and moved: the same connection goes on.
  client.send(['/after']);
  const after = await client.response();
  expect(after.body).toMatch(/^\/after pid=(\d+)$/);
  expect(after.body).not.toBe(`/after pid=${server.pid}`);
  expect(client.closed).toBe(false);
  expect(server.output()).toMatch(/moved 1 connection to the next generation/);
});
