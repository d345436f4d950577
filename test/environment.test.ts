import fs from 'node:fs';
import path from 'node:path';
import { request } from './helpers/http';
import {
  FIXTURES,
  killAll,
  readPid,
  startServer,
  tempDir,
  waitForExit,
  waitForPidFileChange,
  waitForPort,
} from './helpers/processes';
import {
  countMatches,
  DEPLOYED_ENV,
  exitOf,
  requestUnix,
  successorPidsFromLog,
  waitForListeningAddress,
  waitForOutput,
  writeBuild,
} from './helpers/service';

afterEach(killAll);

const HANDOFF = ['LISTEN_FDS', 'LISTEN_FDNAMES', 'LISTEN_PID', 'BATON_PREDECESSOR_PID'];

/** Starts the fixture with `env` and expects start-up to stop: non-zero exit, never listening. */
async function expectStartupFails(env: Record<string, string>): Promise<string> {
  const dir = tempDir();
  writeBuild(dir, '1.0');
  const server = startServer(path.join(FIXTURES, 'app.js'), { ...DEPLOYED_ENV, BUILD_DIR: dir, ...env });
  const { code, signal } = await exitOf(server);
  expect(signal).toBeNull();
  expect(code).not.toBe(0);
  const output = server.output();
  expect(output).not.toMatch(/listening /);
  expect(output).not.toMatch(/serving on /);
  return output;
}

describe('a bad BATON_* value stops start-up with a message naming the variable and the value', () => {
  test.each([
    ['BATON_DRAIN_TIMEOUT_MS', 'abc'],
    ['BATON_DRAIN_TIMEOUT_MS', '-5'],
    ['BATON_READY_TIMEOUT_MS', '0'],
    ['BATON_READY_TIMEOUT_MS', '1.5'],
    ['BATON_READY_TIMEOUT_MS', '30s'],
    ['BATON_LOG', 'loud'],
    ['BATON_LOG', 'DEBUG'],
  ])('%s=%s', async (variable, value) => {
    const output = await expectStartupFails({ [variable]: value });
    expect(output).toContain(`${variable}=${JSON.stringify(value)}`);
    expect(output).toContain('ERR_BATON_INVALID_OPTION');
  });

  test('a valid value starts (the same harness, so the failures above are about the values)', async () => {
    const dir = tempDir();
    writeBuild(dir, '1.0');
    const server = startServer(path.join(FIXTURES, 'app.js'), {
      ...DEPLOYED_ENV,
      BUILD_DIR: dir,
      BATON_DRAIN_TIMEOUT_MS: '5000',
      BATON_READY_TIMEOUT_MS: '20000',
    });
    const port = await waitForPort(server);
    expect((await request(port, '/version')).body).toBe(`1.0 pid=${server.pid}\n`);
  });
});

describe('an unusable BATON_PID_FILE fails at start-up, naming the path', () => {
  test('its directory does not exist', async () => {
    const pidFile = path.join(tempDir(), 'no-such-dir', 's.pid');
    const output = await expectStartupFails({ BATON_PID_FILE: pidFile });
    expect(output).toContain(pidFile);
    expect(output).toContain('ERR_BATON_PID_FILE');
  });

  test('its "directory" is a regular file', async () => {
    const file = path.join(tempDir(), 'plain-file');
    fs.writeFileSync(file, 'x');
    const pidFile = path.join(file, 's.pid');
    const output = await expectStartupFails({ BATON_PID_FILE: pidFile });
    expect(output).toContain(pidFile);
    expect(output).toContain('ERR_BATON_PID_FILE');
  });

  test('it is a directory', async () => {
    const pidFile = tempDir();
    const output = await expectStartupFails({ BATON_PID_FILE: pidFile });
    expect(output).toContain(pidFile);
    expect(output).toContain('ERR_BATON_PID_FILE');
  });

  const root = process.getuid?.() === 0;
  (root ? test.skip : test)('its directory is not writable (skipped as root, who may write anywhere)', async () => {
    const dir = tempDir();
    fs.chmodSync(dir, 0o500);
    const pidFile = path.join(dir, 's.pid');
    const output = await expectStartupFails({ BATON_PID_FILE: pidFile });
    expect(output).toContain(pidFile);
    expect(output).toContain('ERR_BATON_PID_FILE');
  });
});

interface ChildView {
  env: Record<string, string>;
  fds: Record<string, string>;
  listening: string[];
}

describe("after a reload, the app's own child processes see no handoff", () => {
  test('no LISTEN_FDS / LISTEN_FDNAMES / BATON_PREDECESSOR_PID in process.env or a child, and no inherited listening socket', async () => {
    const dir = tempDir();
    const pidFile = path.join(dir, 's.pid');
    const server = startServer(path.join(FIXTURES, 'env-app.js'), {
      ...DEPLOYED_ENV,
      BATON_PID_FILE: pidFile,
      BATON_TEST_PROBE: 'travels',
    });
    const port = await waitForPort(server);
    await waitForOutput(server, /serving on /);

    process.kill(server.pid, 'SIGHUP');
    const newPid = await waitForPidFileChange(pidFile, server.pid);
    expect(successorPidsFromLog(server.output())).toEqual([newPid]);
    expect(await exitOf(server)).toEqual({ code: 0, signal: null });
    expect((await request(port, '/version')).body).toBe(`pid=${newPid}\n`);

    // The successor really was started with the handoff variables (so their absence below means
    // they were removed, not that they never existed).
    const startedWith = fs.readFileSync(`/proc/${newPid}/environ`, 'latin1').split('\0');
    expect(startedWith).toContain('LISTEN_FDS=1');
    expect(startedWith).toContain(`BATON_PREDECESSOR_PID=${server.pid}`);

    const ownEnv = JSON.parse((await request(port, '/env')).body) as Record<string, string>;
    expect(ownEnv.BATON_TEST_PROBE).toBe('travels');
    for (const name of HANDOFF) expect(ownEnv).not.toHaveProperty(name);

    const reply = await request(port, '/child');
    expect(reply.status).toBe(200);
    const child = JSON.parse(reply.body) as ChildView;
    expect(child.env.BATON_TEST_PROBE).toBe('travels');
    for (const name of HANDOFF) expect(child.env).not.toHaveProperty(name);
    // Invariant 6: the listening socket the successor inherited at fd 3 does not leak to its children.
    expect(child.listening).toHaveLength(1);
    expect(Object.values(child.fds)).not.toContain(child.listening[0]);
  });
});

describe('a unix socket listener (LISTEN_PATH) survives reloads', () => {
  test('after each predecessor exits, the path still exists and serves the new generation', async () => {
    const dir = tempDir();
    const pidFile = path.join(dir, 's.pid');
    const socketPath = path.join(dir, 'app.sock');
    writeBuild(dir, '1.0');
    const server = startServer(path.join(FIXTURES, 'app.js'), {
      ...DEPLOYED_ENV,
      BUILD_DIR: dir,
      BATON_PID_FILE: pidFile,
      LISTEN_PATH: socketPath,
    });
    expect(await waitForListeningAddress(server)).toBe(socketPath);
    await waitForOutput(server, /serving on /);
    expect((await requestUnix(socketPath, '/version')).body).toBe(`1.0 pid=${server.pid}\n`);

    // First reload: the predecessor bound the path itself, so libuv unlinks it when it closes.
    writeBuild(dir, '1.1');
    process.kill(readPid(pidFile) as number, 'SIGHUP');
    const second = await waitForPidFileChange(pidFile, server.pid);
    expect(await exitOf(server)).toEqual({ code: 0, signal: null });
    expect(fs.statSync(socketPath).isSocket()).toBe(true);
    expect((await requestUnix(socketPath, '/version')).body).toBe(`1.1 pid=${second}\n`);
    // The successor adopted the socket by fd, and server.address() still names the path it asked for.
    const listening2 = new RegExp(`listening ${escape(socketPath)}\\n`);
    expect(countMatches(await waitForOutput(server, listening2, 2), listening2)).toBe(2);

    // Second reload: this predecessor adopted the socket by fd; the path must survive that too.
    writeBuild(dir, '1.2');
    process.kill(second, 'SIGHUP');
    const third = await waitForPidFileChange(pidFile, second);
    await waitForOutput(server, new RegExp(`baton\\[${second}\\] drained in`));
    await waitForExit(second);
    expect(fs.statSync(socketPath).isSocket()).toBe(true);
    expect((await requestUnix(socketPath, '/version')).body).toBe(`1.2 pid=${third}\n`);
    const listening3 = new RegExp(`listening ${escape(socketPath)}\\n`);
    expect(countMatches(await waitForOutput(server, listening3, 3), listening3)).toBe(3);
    // No second name for the socket left behind (the guard's temporary hard link).
    expect(fs.readdirSync(dir).sort()).toEqual(['app.sock', 'build.json', 's.pid']);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
