import path from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { VERIFY_DEFAULTS, verifyOptions, type Trigger } from '../verify/options';
import { progressFor } from '../verify/progress';
import { renderReport } from '../verify/render';
import { consoleOutput, type Output } from './output';
import { parseDuration, parseDurationOrZero, parseWorkers } from './parse';
import { UsageError } from './target';

export interface VerifyCommandOptions {
  path?: string[];
  url?: string;
  reloads?: number;
  interval?: number;
  steady?: number;
  tail?: number;
  clients?: number;
  supervised?: boolean;
  workers?: number;
  trigger?: Trigger;
  startTimeout?: number;
  requestTimeout?: number;
  stopTimeout?: number;
  appLog?: string;
  json?: boolean;
  quiet?: boolean;
}

/** A whole number from `min` to `max`. */
export function parseCount(min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max)
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}.`);
    return Number(value);
  };
}

export function parsePath(value: string, previous: string[] | undefined): string[] {
  if (!value.startsWith('/'))
    throw new InvalidArgumentError('a path starts with /, e.g. /health or /api/items?limit=5.');
  return [...(previous ?? []), value];
}

export function parseUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('expected a URL such as http://127.0.0.1:9527.');
  }
  if (url.protocol !== 'http:') throw new InvalidArgumentError('only http:// URLs are supported.');
  return value;
}

export const VERIFY_HELP = `
Starts the app as the service would run it (in place, or under baton run with --supervised) with a
control socket and JSON logs, learns its listeners from \`status\`, and drives mixed load at the paths:
an undici Pool and an http.Agent with keep-alive, a new connection per request, and idle keep-alive
clients that reuse their sockets after 0.5-3 s pauses. Any answer outside 2xx/3xx, a reset, a refused
connection, a timeout or a cut-off body is a failed request. After --steady, it reloads --reloads
times the way an operator does (in place: SIGHUP to the serving process; supervised: baton reload),
waiting for each outcome, then stops the app with SIGTERM.

The report: requests and failures by client and error, latency p50/p99 steady against just after
reloads, signal -> ready and drain time of each reload, the warnings baton raised (another SIGHUP
listener, a server bound outside baton, connections closed at the drain deadline), processes and
listening sockets left behind, and the exit code of the final stop. The app's own environment is
used (BATON_DRAIN_TIMEOUT_MS, BATON_SETTLE_MS, ...); verify adds BATON_CONTROL, BATON_LOG_FORMAT=json
and a preload in NODE_OPTIONS that records each Node process's exit code.

Exit codes: 0 no request failed, every reload succeeded, the app exited 0 on SIGTERM and nothing was
left behind; 1 otherwise, with the first reason (and a hint at its cause) on the last line; 2 bad
usage. Durations: 30 (seconds), 30s, 500ms, 2m.

Examples:
  baton verify -- node server.js
  baton verify --path /health --path /api/items --reloads 20 -- node dist/server.js
  baton verify --supervised --workers 2 -- node server.js
  baton verify --json -- npm start > verify.json`;

/** `baton verify`: 0 when the app reloaded without losing anything, 1 when it did not. */
export async function verifyCommand(command: string[], options: VerifyCommandOptions, out: Output): Promise<number> {
  if (command.length === 0)
    throw new UsageError("give the app's start command after --, e.g. baton verify -- node server.js");
  if (options.workers !== undefined && !options.supervised)
    throw new UsageError('--workers needs --supervised (in place there is one generation)');
  // A path in --url is the path to load, unless --path says otherwise.
  const url = options.url ? new URL(options.url) : undefined;
  const urlPath = url && url.pathname !== '/' ? `${url.pathname}${url.search}` : undefined;
  const paths = options.path ?? (urlPath ? [urlPath] : undefined);
  // Loaded here, not with the CLI: the load clients (undici) are for this command only.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { VerifyRun } = require('../verify/run') as typeof import('../verify/run');
  const run = new VerifyRun(
    verifyOptions({
      command,
      ...(paths ? { paths } : {}),
      url: options.url,
      reloads: options.reloads,
      intervalMs: options.interval,
      steadyMs: options.steady,
      tailMs: options.tail,
      clients: options.clients,
      supervised: options.supervised ?? false,
      workers: options.workers ?? VERIFY_DEFAULTS.workers,
      trigger: options.trigger,
      startTimeoutMs: options.startTimeout,
      requestTimeoutMs: options.requestTimeout,
      stopTimeoutMs: options.stopTimeout,
      appLog: options.appLog ? path.resolve(options.appLog) : undefined,
      batonBin: path.join(__dirname, 'main.js'),
    }),
    progressFor(process.stderr, options.quiet),
  );
  // Interrupted: the app's processes go with verify, by pid.
  const interrupted = (): void => {
    run.abort();
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    const report = await run.execute();
    if (options.json) out.stdout(JSON.stringify(report));
    else for (const line of renderReport(report)) out.stdout(line);
    return report.ok ? 0 : 1;
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  }
}

/** Adds `baton verify` to the CLI; `exit` receives its exit code. */
export function addVerifyCommand(program: Command, exit: (code: number) => void): void {
  const d = VERIFY_DEFAULTS;
  const ms = (value: number): string => (value % 1000 === 0 ? `${value / 1000}s` : `${value}ms`);
  program
    .command('verify')
    .description(
      'Prove that the app reloads without losing a request: run it under load, reload it N times, stop it, report what was lost.',
    )
    .argument('<command...>', "the app's start command, after --, e.g. -- node server.js")
    .passThroughOptions()
    .addOption(
      new Option('--path <path>', `a path to GET, repeatable (default ${d.paths.join(' ')})`).argParser(parsePath),
    )
    .addOption(
      new Option(
        '--url <url>',
        'send the load to this http:// origin instead of the listeners status reports (its path is used when no --path is given)',
      ).argParser(parseUrl),
    )
    .addOption(new Option('-n, --reloads <n>', 'how many reloads').argParser(parseCount(1, 1000)).default(d.reloads))
    .addOption(
      new Option('--steady <duration>', 'load before the first reload: the latency baseline (its first 500 ms warm up)')
        .argParser(parseDurationOrZero)
        .default(d.steadyMs, ms(d.steadyMs)),
    )
    .addOption(
      new Option('--interval <duration>', "pause between one reload's outcome and the next reload")
        .argParser(parseDurationOrZero)
        .default(d.intervalMs, ms(d.intervalMs)),
    )
    .addOption(
      new Option('--tail <duration>', "load after the last reload's outcome")
        .argParser(parseDurationOrZero)
        .default(d.tailMs, ms(d.tailMs)),
    )
    .addOption(
      new Option(
        '--clients <n>',
        'request loops per keep-alive client kind (undici, http.Agent); half as many new-connection loops, twice as many idle clients',
      )
        .argParser(parseCount(1, 256))
        .default(d.clients),
    )
    .option('--supervised', 'run the app under baton run (one stable PID, workers) instead of in place')
    .addOption(
      new Option('-w, --workers <n>', `with --supervised: how many workers (default ${d.workers})`).argParser(
        parseWorkers,
      ),
    )
    .addOption(
      new Option(
        '--trigger <how>',
        'how to ask for each reload: signal (SIGHUP, as kill -HUP or systemd ExecReload; default in place) or control (as baton reload; default supervised)',
      ).choices(['signal', 'control']),
    )
    .addOption(
      new Option(
        '--start-timeout <duration>',
        'the app must be serving, and answer every path with 2xx/3xx, within this',
      )
        .argParser(parseDuration)
        .default(d.startTimeoutMs, ms(d.startTimeoutMs)),
    )
    .addOption(
      new Option('--request-timeout <duration>', 'a request not answered in full within this fails')
        .argParser(parseDuration)
        .default(d.requestTimeoutMs, ms(d.requestTimeoutMs)),
    )
    .addOption(
      new Option(
        '--stop-timeout <duration>',
        'after SIGTERM, how long the app has to exit (default: its drain timeout + shutdown delay + 10s)',
      ).argParser(parseDuration),
    )
    .addOption(new Option('--app-log <file>', "append the app's output (every generation's) to this file"))
    .option('--json', 'print the report as one JSON object instead of text')
    .option('-q, --quiet', 'no progress on stderr')
    .addHelpText('after', VERIFY_HELP)
    .action(async (command: string[], options: VerifyCommandOptions) =>
      exit(await verifyCommand(command, options, consoleOutput)),
    );
}
