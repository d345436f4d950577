import type net from 'node:net';
import { BatonError, errorFromWire } from '../errors';
import { isBatonMessage, type GenerationMessage, type RetireReason, type SupervisorMessage } from '../wire/ipc';
import type { ConnectionCounts, GenerationMode, ReloadResult, Status } from '../wire/types';
import type { Host, ParentChannel } from './host';
import type { ConnectionTarget, GenerationPort, ServedListener, Upstream } from './upstream';

/**
 * The role of a worker under `baton run`: the supervisor keeps every listening socket and one stable
 * pid, so a reload is a request to it (it replaces the workers one by one and tells us the outcome),
 * readiness and the drain are reported to it, and it owns the pid file, the control socket and
 * systemd. The IPC channel is kept for the worker's whole life (see wire/ipc.ts).
 */
export class SupervisedUpstream implements Upstream {
  readonly mode: GenerationMode = 'supervised';
  private port!: GenerationPort;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: ReloadResult) => void; reject: (e: Error) => void }>();
  private retiring = false;
  /** The supervisor's retire message said it takes client connections (see connectionTarget). */
  private movesConnections = false;
  /** Connections handed to the supervisor and not yet confirmed, oldest first. */
  private readonly moves: Array<(received: boolean) => void> = [];

  constructor(
    private readonly host: Host,
    private readonly channel: ParentChannel,
    readonly supervisorPid: number,
  ) {
    // Said at once, before any listen(): the supervisor learns that the command is a baton app.
    this.send({ baton: 'hello', pid: host.pid });
  }

  start(port: GenerationPort): void {
    this.port = port;
    this.channel.onMessage((message, handle) => this.onMessage(message, handle));
    this.channel.onDisconnect(() => {
      for (const settle of this.moves.splice(0)) settle(false);
      for (const [id, waiter] of this.pending) {
        this.pending.delete(id);
        waiter.reject(
          new BatonError(
            'ERR_BATON_RETIRING',
            `supervisor pid ${this.supervisorPid} went away before the reload finished`,
          ),
        );
      }
      if (this.retiring) return;
      port.log.warn('orphaned', `supervisor pid ${this.supervisorPid} is gone; draining and exiting`);
      port.retire('shutdown');
    });
  }

  /** The supervisor keeps a copy of a socket this worker bound (without accepting on it) for later workers. */
  bound(key: string, server: net.Server): void {
    const handle = (server as unknown as { _handle?: unknown })._handle;
    if (handle) this.send({ baton: 'listener', key }, handle);
  }

  /** `keys`: the listeners this worker serves, so the supervisor can let go of sockets no build uses. */
  ready(listeners: ServedListener[], described: string, readyMs: number): void {
    this.send({ baton: 'ready', pid: this.host.pid, keys: listeners.map((l) => l.key) });
    this.port.log.info(
      'ready',
      `worker ${this.host.pid} ready ${readyMs} ms after loading baton, on ${described}; telling supervisor pid ${this.supervisorPid}`,
    );
  }

  /** reload() inside a worker: the supervisor runs the rolling reload, retires us, and tells us the outcome. */
  reload(): Promise<ReloadResult> {
    const id = this.nextId++;
    return new Promise<ReloadResult>((resolve, reject) => {
      if (!this.channel.connected) {
        reject(new BatonError('ERR_BATON_RETIRING', `supervisor pid ${this.supervisorPid} is gone; cannot reload`));
        return;
      }
      this.pending.set(id, { resolve, reject });
      this.send({ baton: 'reload', id });
    });
  }

  /**
   * A stop signal sent to a worker during its reload request: the rolling reload belongs to the
   * supervisor (signal it to stop the service); this worker drains once the request settles.
   */
  cancelReload(_signal: NodeJS.Signals): void {}

  /** The supervisor holds every socket (and removes unix paths at its own exit). */
  socketsLiveOn(_reason: RetireReason): boolean {
    return true;
  }

  draining(_reason: RetireReason, connections: ConnectionCounts): void {
    this.send({ baton: 'draining', connections });
  }

  /**
   * A reload's drain hands idle client connections to the supervisor, which passes each on to a ready
   * worker of the newest generation (issue 13); a stop drains politely, and so does a worker whose
   * supervisor did not offer to take them. True once the supervisor confirms it has the socket: from
   * then on it is the supervisor's (which closes it if no worker can take it). Not merely once sent:
   * Node holds back every later message until the supervisor acknowledges the descriptor, and a
   * worker that exited first would lose them (its `drained` report among them).
   */
  connectionTarget(reason: RetireReason): ConnectionTarget | undefined {
    const channel = this.channel;
    if (reason !== 'reload' || !this.movesConnections || !channel.connected) return undefined;
    return (key, socket) =>
      new Promise<boolean>((resolve) => {
        this.moves.push(resolve);
        channel.send({ baton: 'connection', key } satisfies GenerationMessage, socket).catch(() => {
          const index = this.moves.indexOf(resolve);
          if (index >= 0) this.moves.splice(index, 1);
          resolve(false);
        });
      });
  }

  drained(durationMs: number, forced: number, moved: number): void {
    this.send({ baton: 'drained', durationMs, forced, moved });
  }

  exiting(): void {
    // The supervisor sees the exit; the pid file names it, not us.
  }

  relations(): Pick<Status, 'supervisorPid'> {
    return { supervisorPid: this.supervisorPid };
  }

  private onMessage(message: unknown, handle: unknown): void {
    if (!isBatonMessage(message)) return;
    const m = message as SupervisorMessage;
    switch (m.baton) {
      case 'connection':
        // At once, on this turn: the socket Node made for it reads on the next one.
        if (handle) this.port.adoptConnection(m.key, handle);
        break;
      case 'connection-received':
        this.moves.shift()?.(true);
        break;
      case 'retire':
        this.retiring = true;
        this.movesConnections = m.moveConnections === true;
        this.port.retire(m.reason);
        break;
      case 'status-request':
        this.send({ baton: 'status', id: m.id, status: this.port.status() });
        break;
      case 'reload-result': {
        const waiter = this.pending.get(m.id);
        if (!waiter) break;
        this.pending.delete(m.id);
        if (m.ok) waiter.resolve(m.result);
        else waiter.reject(errorFromWire(m.error));
        break;
      }
    }
  }

  private send(message: GenerationMessage, handle?: unknown): void {
    // A supervisor that is already gone is noticed through 'disconnect', not here.
    if (this.channel.connected) this.channel.send(message, handle).catch(() => undefined);
  }
}
