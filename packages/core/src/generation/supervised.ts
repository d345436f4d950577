import type net from 'node:net';
import { BatonError, errorFromWire } from '../errors';
import { isBatonMessage, type GenerationMessage, type RetireReason, type SupervisorMessage } from '../wire/ipc';
import type { ConnectionCounts, GenerationMode, ReloadResult, Status } from '../wire/types';
import type { Host, ParentChannel } from './host';
import type { GenerationPort, ServedListener, Upstream } from './upstream';

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
    this.channel.onMessage((message) => this.onMessage(message));
    this.channel.onDisconnect(() => {
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

  connectionTarget(_reason: RetireReason): undefined {
    // Under `baton run` connections drain politely: the supervisor does not relay them (yet).
    return undefined;
  }

  drained(durationMs: number, forced: number, _moved: number): void {
    this.send({ baton: 'drained', durationMs, forced });
  }

  exiting(): void {
    // The supervisor sees the exit; the pid file names it, not us.
  }

  relations(): Pick<Status, 'supervisorPid'> {
    return { supervisorPid: this.supervisorPid };
  }

  private onMessage(message: unknown): void {
    if (!isBatonMessage(message)) return;
    const m = message as SupervisorMessage;
    switch (m.baton) {
      case 'retire':
        this.retiring = true;
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
