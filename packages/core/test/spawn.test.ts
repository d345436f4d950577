import os from 'node:os';
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
