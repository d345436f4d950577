import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { spawnChild, waitForReady } from '../src/child/spawn';

// Real spawns: child/spawn.ts is the one place a child generation or worker is started.
describe('spawnChild reports what went wrong in words that name the cause', () => {
  test('a working directory that no longer exists (a deleted release): ERR_BATON_SPAWN_FAILED naming it, not `spawn node ENOENT`', async () => {
    const gone = path.join(os.tmpdir(), 'baton-no-such-release-dir');
    const child = spawnChild({
      role: 'next generation',
      file: process.execPath,
      args: ['-e', ''],
      cwd: gone,
      env: {},
      fds: [],
    });
    await expect(waitForReady(child, { timeoutMs: 5000 })).rejects.toMatchObject({
      code: 'ERR_BATON_SPAWN_FAILED',
      message: `cannot start next generation (${process.execPath}): working directory ${gone} does not exist`,
    });
  });

  test('arguments too long for the kernel (spawn throws E2BIG): ERR_BATON_SPAWN_FAILED with the cause', async () => {
    const child = spawnChild({
      role: 'next generation',
      file: process.execPath,
      args: ['x'.repeat(3 * 1024 * 1024)],
      cwd: os.tmpdir(),
      env: {},
      fds: [],
    });
    const error = await waitForReady(child, { timeoutMs: 5000 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_BATON_SPAWN_FAILED' });
    expect((error as Error).message).toMatch(/E2BIG/);
  });
});

describe('sending client connections to a child that dies on the first one', () => {
  // The child SIGKILLs itself when the first message arrives: Node then leaves the sends queued behind
  // the unacknowledged descriptor without a callback, and keeps that descriptor open.
  const DIES_ON_MESSAGE =
    "process.on('message', () => process.kill(process.pid, 'SIGKILL')); setInterval(() => {}, 1000);";

  test('queued sends settle as not sent, and no client is left on a connection nobody reads', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const accepted: net.Socket[] = [];
    server.on('connection', (socket) => accepted.push(socket));
    const clients = await Promise.all(
      [1, 2, 3, 4].map(
        () =>
          new Promise<net.Socket>((resolve) => {
            const client = net.connect(port, '127.0.0.1', () => resolve(client));
            client.on('error', () => undefined);
          }),
      ),
    );
    while (accepted.length < clients.length) await new Promise((resolve) => setTimeout(resolve, 5));
    const child = spawnChild({
      role: 'next generation',
      file: process.execPath,
      args: ['-e', DIES_ON_MESSAGE],
      cwd: os.tmpdir(),
      env: {},
      fds: [],
    });
    try {
      const sends = accepted.map((socket) => child.send({ baton: 'connection', key: 'k' }, socket));
      const outcomes = await Promise.all(sends);
      // The first reached the child (which died of it); the rest never left this process.
      expect(outcomes[0]).toBe(true);
      expect(outcomes.slice(2)).toEqual([false, false]);
      await child.exited;
      // Every client whose connection went to the child sees it closed: the dead child's copy is gone
      // and so is this process's, which Node would have kept until an acknowledgement that never comes.
      const moved = outcomes.map((sent, i) => (sent ? clients[i] : undefined)).filter((c) => c !== undefined);
      await Promise.all(
        moved.map(
          (client) => new Promise((resolve) => (client.destroyed ? resolve(undefined) : client.once('close', resolve))),
        ),
      );
    } finally {
      for (const client of clients) client.destroy();
      server.close();
    }
  }, 10_000);
});
