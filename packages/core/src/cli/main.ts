#!/usr/bin/env node
import fs from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { isBatonError } from '../errors';
import { consoleOutput } from './output';
import { collect, parseDuration, parseDurationOrZero, parseLogLevel, parseWorkers } from './parse';
import { reloadCommand } from './reload';
import { runCommand } from './run';
import { statusCommand } from './status';
import { UsageError } from './target';
import { addVerifyCommand } from './verify';

/** Exit codes: 0 ok; 1 the operation failed (reload failed, no answer); 2 bad usage or arguments. */
export const EXIT_USAGE = 2;

function version(): string {
  try {
    const manifest = fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8');
    return (JSON.parse(manifest) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function targetOptions(command: Command): Command {
  return command
    .addOption(new Option('--pid-file <file>', 'pid file of the process (also read from BATON_PID_FILE)'))
    .addOption(new Option('--control <socket>', 'control socket of the process (also read from BATON_CONTROL)'))
    .option('--json', 'print one JSON object instead of text');
}

export function buildProgram(exit: (code: number) => void): Command {
  const program = new Command('baton')
    .description('Zero-downtime reloads for Node.js HTTP servers.')
    .version(version(), '-v, --version')
    .enablePositionalOptions()
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('run')
    .description(
      'Supervise <command> with one stable PID: hold the listening sockets, run workers, reload them one by one.',
    )
    .argument('<command...>', 'the server command, after --, e.g. -- node server.js')
    .passThroughOptions()
    .addOption(
      new Option('-w, --workers <n>', 'how many workers serve at once, or auto (one per core)')
        .argParser(parseWorkers)
        .default(1),
    )
    .addOption(
      new Option(
        '--ready-timeout <duration>',
        'a new worker must be ready within this (default 30s; env BATON_READY_TIMEOUT_MS)',
      ).argParser(parseDuration),
    )
    .addOption(
      new Option(
        '--drain-timeout <duration>',
        'a retiring worker is given this long to drain (default 30s; env BATON_DRAIN_TIMEOUT_MS)',
      ).argParser(parseDuration),
    )
    .addOption(
      new Option(
        '--settle <duration>',
        'in a reload, every new worker must stay up this long after ready before an old one retires (default 5s, 0 for none; env BATON_SETTLE_MS)',
      ).argParser(parseDurationOrZero),
    )
    .addOption(new Option('--pid-file <file>', "write the supervisor's pid here, atomically (env BATON_PID_FILE)"))
    .addOption(
      new Option(
        '--control <socket>',
        'control socket for baton reload/status (env BATON_CONTROL; default <pid-file>.sock)',
      ),
    )
    .addOption(
      new Option(
        '--listen <address>',
        'bind this address before the first worker (repeatable): PORT, HOST:PORT, [IPv6]:PORT, unix:/path',
      ).argParser(collect),
    )
    .addOption(
      new Option('--log <level>', 'silent, error, warn, info or debug (env BATON_LOG)').argParser(parseLogLevel),
    )
    .addOption(
      new Option('--log-format <format>', 'text or json, one object a line (env BATON_LOG_FORMAT)').choices([
        'text',
        'json',
      ]),
    )
    .addOption(
      new Option(
        '--shutdown-delay <duration>',
        'after SIGTERM keep serving this long, reporting not ready, then drain (default 0; env BATON_SHUTDOWN_DELAY_MS)',
      ).argParser(parseDurationOrZero),
    )
    .addOption(
      new Option(
        '--health <address>',
        'serve GET /ready and /live on this address (HOST:PORT, PORT or unix:/path) from the supervisor',
      ),
    )
    .addHelpText(
      'after',
      `
Workers are started like an in-place reload's next generation: the sockets the supervisor holds
arrive as fds 3.. (LISTEN_FDS/LISTEN_FDNAMES) with an IPC channel after them. The app's listen()
calls are unchanged; a socket the supervisor does not hold yet is bound by the first worker and
sent to the supervisor. Durations: 30 (seconds), 30s, 500ms, 2m.

Signals: SIGHUP reloads (rolling: start the new workers one at a time next to the old ones, wait
until each has stayed up --settle, then retire the old ones; a new worker that dies before that
aborts the reload and the old workers keep serving);
SIGTERM/SIGINT drain every worker and exit 0; SIGUSR2 is passed on to the workers.

Examples:
  baton run -- node server.js
  baton run --workers 2 --pid-file /run/app/app.pid -- node --enable-source-maps dist/server.js`,
    )
    .action(async (command: string[], options) => exit(await runCommand(command, options)));

  targetOptions(
    program
      .command('reload')
      .description(
        'Reload the process and wait for the outcome: exit 0 once the new generation serves, 1 when it failed.',
      ),
  )
    .addOption(
      new Option('--timeout <duration>', 'give up waiting after this (default 60s)')
        .argParser(parseDuration)
        .default(60_000, '60s'),
    )
    .addHelpText(
      'after',
      `
With --control (or a pid file whose <pid-file>.sock exists, as under baton run) the process itself
reports the outcome. With only --pid-file, baton sends SIGHUP and watches the pid file name a new
process and the old one exit (in-place mode).`,
    )
    .action(async (options) => exit(await reloadCommand(options, consoleOutput)));

  targetOptions(
    program
      .command('status')
      .description(
        'Show mode, health, generations and their pids, workers ready/draining, connections and the last reload.',
      ),
  )
    .addOption(
      new Option('--timeout <duration>', 'give up waiting for an answer after this (default 5s)')
        .argParser(parseDuration)
        .default(5_000, '5s'),
    )
    .option('--check', 'exit 0 only when serving (every wanted worker ready); 1 when degraded, down or no answer')
    .addHelpText(
      'after',
      `
Health: serving (every wanted worker ready), degraded (fewer, at least one), down (none).
Exit codes: 0 the process answered (with --check: and is serving); 1 no answer (with --check: or
degraded or down); 2 bad usage.`,
    )
    .action(async (options) => exit(await statusCommand(options, consoleOutput)));

  addVerifyCommand(program, exit);

  return program;
}

/** Runs the CLI with `argv` (node, script, ...args). Used by the `baton` bins of every package. */
export async function runCli(argv: string[] = process.argv): Promise<void> {
  let exitCode: number | undefined;
  const program = buildProgram((code) => (exitCode = code));
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      process.exitCode = error.exitCode === 0 ? 0 : EXIT_USAGE;
      return;
    }
    const message = (error as Error)?.message ?? String(error);
    const code = isBatonError(error) ? ` (${error.code})` : '';
    process.stderr.write(`baton: ${message}${code}\n`);
    process.exitCode =
      error instanceof UsageError ||
      isBatonError(error, 'ERR_BATON_INVALID_OPTION') ||
      isBatonError(error, 'ERR_BATON_UNSUPPORTED')
        ? EXIT_USAGE
        : 1;
    return;
  }
  if (exitCode !== undefined) process.exit(exitCode);
}

if (require.main === module) void runCli();
