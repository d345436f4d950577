import fs from 'node:fs';
import path from 'node:path';
import { request } from './helpers/http';
import {
  FIXTURES,
  isAlive,
  killAll,
  readPid,
  rememberPid,
  startServer,
  tempDir,
  waitFor,
  waitForExit,
  waitForPidFileChange,
  waitForPort,
} from './helpers/processes';

afterEach(killAll);

function newBuild(dir: string, version: string, behavior = 'ok'): void {
  fs.writeFileSync(path.join(dir, 'build.json'), JSON.stringify({ version, behavior }));
}

describe.each(['express', 'koa'])('the seed story on %s', (framework) => {
  test('v1.0, drop in v1.1, /upgrade answers, /version says 1.1, the pid file names the new process, the old exits 0', async () => {
    const dir = tempDir();
    const pidFile = path.join(dir, 's.pid');
    newBuild(dir, '1.0');
    const server = startServer(path.join(FIXTURES, 'app.js'), {
      FRAMEWORK: framework,
      BUILD_DIR: dir,
      BATON_PID_FILE: pidFile,
    });
    const port = await waitForPort(server);
    expect((await request(port, '/version')).body).toBe(`1.0 pid=${server.pid}\n`);
    expect(readPid(pidFile)).toBe(server.pid);

    newBuild(dir, '1.1');
    const refused = await request(port, '/upgrade', { method: 'POST' });
    expect(refused.status).toBe(401);
    const upgraded = await request(port, '/upgrade', {
      method: 'POST',
      headers: { authorization: 'Bearer test-token' },
    });
    expect(upgraded.status).toBe(200);
    expect(upgraded.body).toMatch(new RegExp(`^restart ok ${server.pid} -> \\d+\\n$`));
    const newPid = Number(/-> (\d+)/.exec(upgraded.body)?.[1]);
    rememberPid(newPid);

    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect((await request(port, '/version')).body).toBe(`1.1 pid=${newPid}\n`);
    expect(readPid(pidFile)).toBe(newPid);
  });

  test('the same through kill -HUP $(cat s.pid)', async () => {
    const dir = tempDir();
    const pidFile = path.join(dir, 's.pid');
    newBuild(dir, '1.0');
    const server = startServer(path.join(FIXTURES, 'app.js'), {
      FRAMEWORK: framework,
      BUILD_DIR: dir,
      BATON_PID_FILE: pidFile,
    });
    const port = await waitForPort(server);
    newBuild(dir, '1.1');
    // The fixture prints its port on 'listening'; the pid file is written once it is ready, a turn later.
    process.kill(await waitFor('the pid file', () => readPid(pidFile)), 'SIGHUP');
    const newPid = await waitForPidFileChange(pidFile, server.pid);
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect((await request(port, '/version')).body).toBe(`1.1 pid=${newPid}\n`);

    // SIGTERM drains and exits 0, and a final shutdown removes the pid file it owns.
    process.kill(newPid, 'SIGTERM');
    await waitForExit(newPid);
    expect(fs.existsSync(pidFile)).toBe(false);
    expect(isAlive(newPid)).toBe(false);
  });
});
