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
} from './helpers/processes';
import {
  exitOf,
  freePort,
  MARKER_VARIABLE,
  newMarker,
  servicePids,
  successorPidsFromLog,
  waitForOutput,
  writeBuild,
} from './helpers/service';

// systemd socket activation, reproduced locally with systemd-socket-activate: the fixture gets the
// socket at fd 3 with LISTEN_FDS/LISTEN_PID, adopts it, serves, and hands the same socket on at SIGHUP.

const SOCKET_ACTIVATE = '/usr/bin/systemd-socket-activate';
const available = fs.existsSync(SOCKET_ACTIVATE);
if (!available) {
  // Say so loudly instead of passing quietly where the tool is missing.
  test.skip(`${SOCKET_ACTIVATE} is not installed`, () => undefined);
}

afterEach(killAll);

/**
 * systemd-socket-activate passes only a few variables (PATH, HOME, ...) and the -E ones to the
 * command it execs, so everything the fixture needs goes through -E. It binds the port itself and
 * execs `node app.js` (same pid) at the first connection.
 */
function startActivated(port: number, env: Record<string, string>) {
  const setenv = Object.entries({ BATON_LOG: 'debug', ...env }).flatMap(([name, value]) => ['-E', `${name}=${value}`]);
  return startServer(path.join(FIXTURES, 'app.js'), {}, [
    SOCKET_ACTIVATE,
    '-l',
    `127.0.0.1:${port}`,
    ...setenv,
    process.execPath,
  ]);
}

(available ? describe.each(['express', 'koa']) : describe.skip.each(['express', 'koa']))(
  'systemd socket activation on %s',
  (framework) => {
    test('adopts fd 3 from systemd, serves, and a SIGHUP hands the same socket to the next generation', async () => {
      const dir = tempDir();
      const pidFile = path.join(dir, 's.pid');
      const marker = newMarker();
      writeBuild(dir, '1.0');
      const port = await freePort();
      const server = startActivated(port, {
        FRAMEWORK: framework,
        PORT: String(port),
        BUILD_DIR: dir,
        BATON_PID_FILE: pidFile,
        [MARKER_VARIABLE]: marker,
      });
      await waitForOutput(server, new RegExp(`Listening on 127\\.0\\.0\\.1:${port} as 3`));
      // Nothing of ours runs yet: systemd-socket-activate holds the socket and waits for a client.
      expect(server.output()).not.toMatch(/baton\[/);

      // The first connection waits in the accept queue while node starts, and is answered by it.
      const first = await request(port, '/version');
      expect(first.body).toBe(`1.0 pid=${server.pid}\n`);
      const output = await waitForOutput(server, /serving on /);
      expect(output).toContain(`baton[${server.pid}] debug: tcp:127.0.0.1:${port}: adopting fd 3 from systemd`);
      expect(output).toContain(`listening ${port}`);
      expect(readPid(pidFile)).toBe(server.pid);
      expect(servicePids(marker)).toEqual([server.pid]);

      writeBuild(dir, '1.1');
      process.kill(server.pid, 'SIGHUP');
      const newPid = await waitForPidFileChange(pidFile, server.pid);
      expect(successorPidsFromLog(server.output())).toEqual([newPid]);
      expect(await exitOf(server)).toEqual({ code: 0, signal: null });
      expect((await request(port, '/version')).body).toBe(`1.1 pid=${newPid}\n`);
      expect(server.output()).toContain(
        `baton[${newPid}] debug: tcp:127.0.0.1:${port}: adopting fd 3 from pid ${server.pid}`,
      );
      expect(servicePids(marker)).toEqual([newPid]);

      // The successor is a baton successor, not socket-activated: LISTEN_PID did not travel with it.
      const environ = fs.readFileSync(`/proc/${newPid}/environ`, 'latin1').split('\0');
      expect(environ.filter((entry) => entry.startsWith('LISTEN_PID='))).toEqual([]);

      // And once more from the successor, still on the port systemd bound.
      writeBuild(dir, '1.2');
      process.kill(newPid, 'SIGHUP');
      const thirdPid = await waitForPidFileChange(pidFile, newPid);
      expect((await request(port, '/version')).body).toBe(`1.2 pid=${thirdPid}\n`);
      await waitForOutput(server, new RegExp(`baton\\[${newPid}\\] drained in`));
      await waitForOutput(server, new RegExp(`baton\\[${thirdPid}\\] generation ${thirdPid} ready`));
      await waitForExit(newPid);
      expect(servicePids(marker)).toEqual([thirdPid]);
    });
  },
);
