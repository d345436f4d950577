import path from 'node:path';
import { request } from './helpers/http';
import { FIXTURES, killAll, rememberPid, startServer, waitFor, waitForPort } from './helpers/processes';

afterEach(killAll);

interface Record {
  event?: string;
  pid?: number;
  msg?: string;
  message?: string;
  logger?: string;
  channel?: boolean;
}

function records(output: string): Record[] {
  return output
    .split('\n')
    .filter((line) => line.includes('{"'))
    .map((line) => JSON.parse(line.slice(line.indexOf('{"'))) as Record);
}

test('a pino-style logger gets every lifecycle step as (fields, message); diagnostics_channel sees the same', async () => {
  const server = startServer(path.join(FIXTURES, 'logger-app.js'), { BATON_LOG: 'info' });
  const port = await waitForPort(server);
  await waitFor('ready', () => server.output().includes('"event":"ready"') || undefined);
  process.kill(server.pid, 'SIGHUP');
  expect(await server.exited).toEqual({ code: 0, signal: null });
  const successorPid = Number(/pid=(\d+)/.exec((await request(port, '/')).body)?.[1]);
  rememberPid(successorPid);
  expect(successorPid).not.toBe(server.pid);

  const seen = await waitFor('the successor to log that it is ready', () => {
    const all = records(server.output());
    return all.some((r) => r.event === 'ready' && r.pid === successorPid && !r.channel) ? all : undefined;
  });
  const logged = seen.filter((r) => !r.channel);
  const published = seen.filter((r) => r.channel);
  // The predecessor's story, in order, through the custom logger only (nothing on stderr's format).
  // A custom logger gets every level (pino filters by its own level): the debug line is the third 'reload'.
  const predecessor = logged.filter((r) => r.pid === server.pid).map((r) => r.event);
  // `emptied`: within the rollback window it holds no client connection any more (none here to move).
  expect(predecessor).toEqual(['ready', 'reload', 'reload', 'reload', 'handed-over', 'emptied', 'settled', 'drained']);
  expect(logged.every((r) => typeof r.msg === 'string' && r.msg.length > 0)).toBe(true);
  expect(server.output()).not.toMatch(/^baton\[/m);
  // Every logged step was also published, with its message, in the same order within each process
  // (the two processes share one stdout pipe, so lines of different processes interleave freely).
  for (const pid of [server.pid, successorPid]) {
    expect(published.filter((r) => r.pid === pid).map((r) => `${r.event} ${r.message}`)).toEqual(
      logged.filter((r) => r.pid === pid).map((r) => `${r.event} ${r.msg}`),
    );
  }
});

test("a real pino logger: one JSON object a line with the step fields, and no field twice (pid is pino's own)", async () => {
  const server = startServer(path.join(FIXTURES, 'pino-app.js'), { BATON_SETTLE_MS: '0' });
  const port = await waitForPort(server);
  await waitFor('ready', () => server.output().includes('"event":"ready"') || undefined);
  process.kill(server.pid, 'SIGHUP');
  expect(await server.exited).toEqual({ code: 0, signal: null });
  rememberPid(Number(/pid=(\d+)/.exec((await request(port, '/')).body)?.[1]));
  const lines = server
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{"level"'));
  expect(lines.length).toBeGreaterThan(3);
  for (const line of lines) expect(line.match(/"pid":/g)).toHaveLength(1);
  const events = lines
    .map((line) => JSON.parse(line) as { event?: string; pid: number; msg: string })
    .filter((r) => r.pid === server.pid);
  expect(events.map((r) => r.event)).toEqual(expect.arrayContaining(['ready', 'reload', 'handed-over', 'drained']));
});

test('BATON_LOG_FORMAT=json: the built-in logger writes one JSON object a line, with time, level, pid, event and msg', async () => {
  const server = startServer(path.join(FIXTURES, 'fault-app.js'), {
    BATON_LOG_FORMAT: 'json',
    BATON_LOG: 'info',
    BUILD_DIR: path.join(FIXTURES, 'builds', '1.0'),
  });
  await waitForPort(server);
  process.kill(server.pid, 'SIGTERM');
  expect(await server.exited).toEqual({ code: 0, signal: null });
  // stdout and stderr share one text: a `listening` line may sit in front of a JSON line.
  const lines = server
    .output()
    .split('\n')
    .filter((line) => line.includes('{"'))
    .map((line) => line.slice(line.indexOf('{"')));
  const records = lines.map((line) => JSON.parse(line) as Record & { time: string; level: string });
  expect(records.map((r) => r.event)).toEqual(['ready', 'stop', 'drained']);
  for (const r of records) {
    expect(r).toMatchObject({ level: 'info', pid: server.pid });
    expect(new Date(r.time).toISOString()).toBe(r.time);
    expect(typeof r.msg).toBe('string');
  }
  expect(server.output()).not.toMatch(/^baton\[/m);
});
