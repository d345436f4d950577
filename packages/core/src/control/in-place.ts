import type { LifecycleLog } from '../logger';
import type { ControlStatus, ControlTarget, GenerationSummary, ReloadOutcome } from '../wire/control';
import type { Inheritance } from '../wire/handoff-env';
import type { ConnectionCounts, ReloadResult, Status } from '../wire/types';
import { ControlServer } from './server';
import { checkControlPath } from './socket-path';

/** The listener key under which the control socket travels with the other sockets in a handoff. */
export const CONTROL_KEY_PREFIX = 'control:';

/** What the control socket needs from the generation it serves. */
export interface InPlaceGeneration {
  status(): Status;
  reload(): Promise<ReloadResult>;
}

/**
 * The control socket of an in-place process. It is handed to the next generation like any listener
 * (keyed `control:<path>`), so `baton reload --control` keeps working across reloads and the path is
 * never unlinked by the generation that leaves.
 */
export class InPlaceControl {
  private server: ControlServer | undefined;

  private constructor(readonly file: string) {}

  /** Throws ERR_BATON_INVALID_OPTION (synchronously, from the first listen()) for a bad path. */
  static start(
    given: string,
    inheritance: Inheritance,
    generation: InPlaceGeneration,
    log: LifecycleLog,
  ): InPlaceControl {
    const file = checkControlPath(given);
    const control = new InPlaceControl(file);
    const target = inPlaceTarget(generation);
    const key = `${CONTROL_KEY_PREFIX}${file}`;
    // Only an exact key match: systemd's positional sockets are the app's listeners, never this one.
    const inherited = inheritance.sockets.find((socket) => !socket.claimed && socket.name === key);
    if (inherited) {
      inherited.claimed = true;
      control.server = ControlServer.adopt(inherited.fd, file, target, log);
      log.debug('control', `control socket ${file}: adopted fd ${inherited.fd}`);
    } else {
      ControlServer.bind(file, target, log).then(
        (server) => {
          control.server = server;
          log.info('control', `control socket ${file} (mode 0600)`);
        },
        (error: Error) => log.error('control', `control socket ${file}: ${error.message}`),
      );
    }
    return control;
  }

  /** The socket to hand to the next generation, if it is up. */
  handoff(): { key: string; fd: number } | undefined {
    const fd = this.server?.fd;
    return fd === undefined ? undefined : { key: this.key, fd };
  }

  /** The listener key under which this socket travels. */
  get key(): string {
    return `${CONTROL_KEY_PREFIX}${this.file}`;
  }

  /** The listening handle, to send a copy back to a predecessor (for its rollback window). */
  handle(): unknown {
    return this.server?.listeningHandle;
  }

  /** Stops accepting here; the next generation serves the same socket, so its path stays. */
  handOver(): void {
    this.server?.handOver();
  }

  /** The successor died in the rollback window: accept again on the copy it sent back, if any. */
  resume(handles: ReadonlyMap<string, unknown>): void {
    const handle = handles.get(this.key);
    if (handle !== undefined) this.server?.resume(handle);
  }

  /** Final shutdown: stops accepting and removes the path. */
  close(): void {
    this.server?.close();
  }
}

function inPlaceTarget(generation: InPlaceGeneration): ControlTarget {
  return {
    status: () => inPlaceStatus(generation.status()),
    reload: async () => {
      const started = Date.now();
      const result = await generation.reload();
      // The drain starts on the next turn: these are the connections it will wait for.
      const connections: ConnectionCounts = generation.status().connections;
      const outcome: ReloadOutcome = {
        mode: 'in-place',
        pids: [result.pid],
        previousPids: [result.previousPid],
        readyMs: result.readyMs,
        durationMs: Date.now() - started,
        draining: [{ pid: result.previousPid, connections }],
      };
      return outcome;
    },
  };
}

export function inPlaceStatus(status: Status): ControlStatus {
  const state: GenerationSummary['state'] =
    status.phase === 'retiring'
      ? 'draining'
      : status.phase === 'idle' || status.phase === 'starting'
        ? 'starting'
        : 'ready';
  const generations: GenerationSummary[] = [
    {
      pid: status.pid,
      state,
      uptimeMs: status.uptimeMs,
      ...(status.readyMs !== undefined ? { readyMs: status.readyMs } : {}),
      connections: status.connections,
      ...(status.connectionsMoved ? { connectionsMoved: status.connectionsMoved } : {}),
    },
  ];
  const count = (s: GenerationSummary['state']): number => generations.filter((g) => g.state === s).length;
  return {
    mode: 'in-place',
    pid: status.pid,
    phase: status.phase,
    uptimeMs: status.uptimeMs,
    workers: {
      wanted: 1,
      ready: count('ready'),
      starting: count('starting') + (status.phase === 'reloading' ? 1 : 0),
      draining: count('draining'),
    },
    generations,
    connections: status.connections,
    listeners: status.listeners.map((l) => ({ key: l.key, ...(l.fd !== undefined ? { fd: l.fd } : {}) })),
    ...(status.lastReload ? { lastReload: status.lastReload } : {}),
  };
}
