// The control socket only accepts its owner; the CLI explains every bad argument and every
// unsupported command; --help works on every command.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { killAll, ROOT, tempDir, waitFor, waitForPort } from './helpers/processes';
import { exitOf, servicePids, writeBuild } from './helpers/service';
import { baton, startSupervisor, waitForWorkers } from './helpers/supervisor';

afterEach(killAll);

/** Runs the client as `nobody` when this test runs as root and setpriv exists; null otherwise. */
function asNobody(): { run: string[] } | null {
  if (process.getuid?.() !== 0) return null;
  try {
    execFileSync('setpriv', ['--version'], { stdio: 'ignore' });
  } catch {
    return null;
  }
  return { run: ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups'] };
}

const CLI_MAIN = path.join(ROOT, 'packages', 'core', 'dist', 'cli', 'main.js');
/** A second user to try the socket as (CI runs as root, so there it is always there). */
const nobody = asNobody();
/** The CLI needs `nobody` to read this checkout: a clone under a private mktemp directory is not readable. */
const cliAsNobody = nobody !== null && canRead(nobody, CLI_MAIN);

/** `baton run` with its control socket in a directory anyone can reach: only the socket's mode protects it. */
async function superviseWithReachableControl() {
  const dir = tempDir();
  // The directory lets anyone reach the socket file: only the socket's own mode stands in the way.
  fs.chmodSync(dir, 0o755);
  const control = path.join(dir, 'ctl.sock');
  writeBuild(dir, '1.0');
  fs.chmodSync(path.join(dir, 'build.json'), 0o644);
  const supervisor = startSupervisor(['--control', control], { BUILD_DIR: dir });
  await waitForWorkers(supervisor, 1);
  return { supervisor, control };
}

test('the control socket is created with mode 0600 and serves its owner', async () => {
  const { control } = await superviseWithReachableControl();
  expect(fs.statSync(control).mode & 0o777).toBe(0o600);
  expect((await baton(['status', '--control', control])).code).toBe(0);
});

(nobody ? test : test.skip)(
  'another user is refused by the kernel, and let in once the mode allows it (skipped unless root with setpriv)',
  async () => {
    const user = nobody as { run: string[] };
    const { supervisor, control } = await superviseWithReachableControl();
    // The kernel's check, with a bare client that needs nothing but the node binary.
    expect(connectAs(user, control)).toBe('EACCES');
    expect(workerCountReady(supervisor.output())).toBe(1);
    // The control experiment: the same user gets in once the mode allows it, so the refusal above
    // came from the socket's mode and nothing else.
    fs.chmodSync(control, 0o666);
    expect(connectAs(user, control)).toBe('connected');
  },
);

(cliAsNobody ? test : test.skip)(
  'the CLI run by another user says why it was refused and exits 1 (skipped unless root with setpriv and a checkout other users can read)',
  async () => {
    const user = nobody as { run: string[] };
    const { supervisor, control } = await superviseWithReachableControl();
    const refused = await baton(['status', '--control', control], {}, 30_000, user);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/permission denied on control socket .*only accepts its owner \(mode 0600\)/);
    const reload = await baton(['reload', '--control', control], {}, 30_000, user);
    expect(reload.code).toBe(1);
    expect(workerCountReady(supervisor.output())).toBe(1);

    fs.chmodSync(control, 0o666);
    const allowed = await baton(['status', '--control', control, '--json'], {}, 30_000, user);
    expect(allowed.code).toBe(0);
    expect(JSON.parse(allowed.stdout)).toMatchObject({ mode: 'supervised', pid: supervisor.pid });
  },
);

/** Connects to a unix socket as another user; 'connected' or the error code. */
function connectAs(user: { run: string[] }, socketPath: string): string {
  const script = `require('net').connect(${JSON.stringify(socketPath)}).on('connect', function () { console.log('connected'); this.destroy(); }).on('error', (e) => console.log(e.code));`;
  const [file, ...args] = user.run;
  return execFileSync(file as string, [...args, process.execPath, '-e', script], {
    encoding: 'utf8',
    timeout: 10_000,
  }).trim();
}

function canRead(user: { run: string[] }, file: string): boolean {
  const [command, ...args] = user.run;
  try {
    execFileSync(
      command as string,
      [
        ...args,
        process.execPath,
        '-e',
        `require('fs').accessSync(${JSON.stringify(file)}, require('fs').constants.R_OK)`,
      ],
      { stdio: 'ignore', timeout: 10_000 },
    );
    return true;
  } catch {
    return false;
  }
}

function workerCountReady(output: string): number {
  return [...output.matchAll(/worker \d+ ready in/g)].length;
}

test('a control socket in a directory anyone can write to is refused, naming the directory', async () => {
  const dir = tempDir();
  fs.chmodSync(dir, 0o777);
  const result = await baton(['run', '--control', path.join(dir, 'ctl.sock'), '--', 'node', 'x.js']);
  expect(result.code).toBe(2);
  expect(result.stderr).toContain(`directory ${dir} is writable by every user and not sticky`);
});

test('a stale control socket is replaced; a live one is not stolen', async () => {
  const dir = tempDir();
  const control = path.join(dir, 'ctl.sock');
  writeBuild(dir, '1.0');
  const first = startSupervisor(['--control', control], { BUILD_DIR: dir });
  await waitForWorkers(first, 1);
  const second = startSupervisor(['--control', control], { BUILD_DIR: dir });
  expect((await second.exited).code).not.toBe(0);
  expect(second.output()).toMatch(/control socket .* is in use by another running process/);

  process.kill(first.pid, 'SIGKILL');
  await first.exited;
  // SIGKILL left the file behind; the next supervisor finds nobody answering on it and takes the path.
  const third = startSupervisor(['--control', control], { BUILD_DIR: dir });
  await waitForWorkers(third, 1);
  expect((await baton(['status', '--control', control, '--json'])).stdout).toContain(`"pid":${third.pid}`);
});

describe('usage', () => {
  test.each([['--help'], ['run', '--help'], ['reload', '--help'], ['status', '--help']])(
    'baton %s',
    async (...args) => {
      const result = await baton(args);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^Usage: baton/);
    },
  );

  test.each([
    [['run', '--workers', 'many', '--', 'node', 'app.js'], /option '-w, --workers <n>' argument 'many' is invalid/],
    [
      ['run', '--ready-timeout', 'soon', '--', 'node', 'app.js'],
      /option '--ready-timeout <duration>' argument 'soon' is invalid/,
    ],
    [['reload', '--timeout', '-1', '--pid-file', 'x'], /option '--timeout <duration>' argument '-1' is invalid/],
    [['reload', '--bogus'], /unknown option '--bogus'/],
    [['run'], /missing required argument 'command'/],
    [['reload'], /say which process: --control SOCKET or --pid-file FILE/],
    [['reload', '--pid-file', '/nonexistent/app.pid'], /pid file \/nonexistent\/app.pid is missing/],
    [['status', '--control', '/nonexistent/ctl.sock'], /control socket \/nonexistent\/ctl.sock does not exist/],
  ])('baton %j names what is wrong', async (args, message) => {
    const result = await baton(args, { BATON_CONTROL: '', BATON_PID_FILE: '' });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(message);
  });

  test('a bad BATON_* variable is named with its value', async () => {
    const result = await baton(['run', '--', 'node', 'app.js'], { BATON_READY_TIMEOUT_MS: 'soon' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('BATON_READY_TIMEOUT_MS="soon" is invalid');
  });

  // Both used to start: the first with workers that threw at listen() and were restarted forever,
  // the second with every line of baton run silenced. Now the library's own validator refuses them.
  test.each([
    ['BATON_DRAIN_TIMEOUT_MS', '9999999999', 'expected a whole number of milliseconds from 1 to 2147483647'],
    ['BATON_LOG', 'verbose', 'expected silent | error | warn | info | debug'],
  ])('%s=%s stops baton run at start-up: exit 2, one line, no worker', async (variable, value, expected) => {
    const dir = tempDir();
    writeBuild(dir, '1.0');
    const supervisor = startSupervisor([], { BUILD_DIR: dir, [variable]: value });
    const exit = await exitOf(supervisor, 10_000);
    expect(exit).toEqual({ code: 2, signal: null });
    await waitFor(
      'the pipes of baton run to close',
      () => Boolean(supervisor.child.stdout?.closed && supervisor.child.stderr?.closed),
      5_000,
    );
    // stdout and stderr together (a worker would have inherited both): exactly one line, the error.
    expect(supervisor.output()).toBe(
      `baton: ${variable}="${value}" is invalid: ${expected} (ERR_BATON_INVALID_OPTION)\n`,
    );
    expect(servicePids(supervisor.marker)).toEqual([]);
  });

  test('a duration flag longer than a Node timer can wait is refused', async () => {
    const result = await baton(['run', '--drain-timeout', '9999999999ms', '--', 'node', 'app.js']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /option '--drain-timeout <duration>' argument '9999999999ms' is invalid\. the duration must be at most 2147483647 ms/,
    );
  });
});

describe('commands that cannot be supervised', () => {
  test.each([
    ['npm', ['npm', 'start'], /cannot supervise `npm`: npm runs your script in a child of its own/],
    ['tsx', ['tsx', 'server.ts'], /cannot supervise `tsx`.*node --import tsx server.ts/],
  ])('%s is refused with the fix', async (_name, command, message) => {
    const result = await baton(['run', '--', ...command]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  test('a program that does not exist stops baton run with exit 1, naming it', async () => {
    const result = await baton(['run', '--', '/nonexistent/server']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /cannot start worker \(\/nonexistent\/server\): spawn \/nonexistent\/server ENOENT; exiting/,
    );
  });

  test('a program that never speaks baton is killed at the ready timeout with a clear message', async () => {
    const supervisor = startSupervisor(['--ready-timeout', '1s'], {}, [
      process.execPath,
      '-e',
      'setInterval(() => {}, 1000)',
    ]);
    await waitFor('the ready-timeout message', () =>
      /never loaded @baton\/core over the IPC channel/.test(supervisor.output()),
    );
    process.kill(supervisor.pid, 'SIGTERM');
    expect((await supervisor.exited).code).toBe(0);
  });

  test('a wrapper script that runs node as its child works', async () => {
    const dir = tempDir();
    writeBuild(dir, '1.0');
    const script = path.join(dir, 'start.sh');
    fs.writeFileSync(
      script,
      `#!/bin/sh\n# no exec: node runs as a child of this shell, with its fds and environment\n"${process.execPath}" "${path.resolve(__dirname, 'fixtures', 'app.js')}"\n`,
      { mode: 0o755 },
    );
    const supervisor = startSupervisor([], { BUILD_DIR: dir }, [script]);
    await waitForPort(supervisor);
    await waitForWorkers(supervisor, 1);
    expect(supervisor.output()).toMatch(/worker \d+ \(app pid \d+\) ready in/);
  });
});

test('`auto` workers means one per core', async () => {
  const dir = tempDir();
  writeBuild(dir, '1.0');
  const supervisor = startSupervisor(['--workers', 'auto'], { BUILD_DIR: dir });
  await waitForWorkers(supervisor, os.availableParallelism());
  await waitFor('serving line', () =>
    new RegExp(`serving with ${os.availableParallelism()} worker`).test(supervisor.output()),
  );
});
