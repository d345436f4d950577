import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { Http2Sessions } from './internal/http2-sessions';
import { closeKeepingUnixPath } from './internal/unix-path-guard';
import type { ConnectionCounts } from './wire/types';

export type { ConnectionCounts } from './wire/types';

export interface DrainResult {
  durationMs: number;
  /** Connections still open at the deadline, closed by force. */
  forced: number;
  /** The drain was undone by resume() before it ended (a rollback). */
  resumed?: boolean;
}

interface SocketState {
  upgraded: boolean;
  /** When the socket last went idle, as far as the tracker saw: accepted, or a response finished. */
  idleSince: number;
  /** socket.bytesRead at that moment: more since then means a request is on its way in. */
  bytesReadWhenIdle: number;
}

/** Node's own closeIdleConnections() reads the same field: the response a socket is serving now. */
function currentResponse(socket: Duplex): http.ServerResponse | undefined {
  return (socket as { _httpMessage?: http.ServerResponse | null })._httpMessage ?? undefined;
}

/** How often a draining tracker looks for idle sockets that no timer of Node's will close. */
const SWEEP_INTERVAL_MS = 250;
/** Node closes an idle keep-alive socket at keepAliveTimeout + 1 s (a constant in Node 20). */
const NODE_KEEP_ALIVE_BUFFER_MS = 1000;
/** Idle limit when the server advertises no keep-alive timeout (keepAliveTimeout = 0). */
const IDLE_LIMIT_WITHOUT_KEEP_ALIVE_MS = 5000;

/**
 * Tracks a server's sockets, requests and upgraded sockets, and drains them politely (DESIGN.md):
 * 1. stop accepting without touching connections;
 * 2. `Connection: close` on every response not yet started and every request still arriving;
 * 3. idle keep-alive sockets expire on the server's own advertised timer, never earlier;
 * 4. upgraded sockets are the app's to close (see `upgradedSockets()`);
 * 5. a hard deadline closes whatever is left.
 * One tracker per server; it works for net, http, https and http2 servers (HTTP/2 drains with GOAWAY).
 */
export class DrainTracker {
  private readonly sockets = new Map<Duplex, SocketState>();
  private drainingSince: number | undefined;
  private drainedWaiters: Array<() => void> = [];
  /** Ends a drain in progress without closing anything (see resume()). */
  private cancelDrain: (() => void) | undefined;
  /** The 'request' listener a drain adds; resume() takes it off again. */
  private drainRequestListener: ((req: http.IncomingMessage, res: http.ServerResponse) => void) | undefined;
  private watchingIdleTimes = false;
  /** Set for HTTP/2 servers, whose drain is GOAWAY rather than Connection: close. */
  private readonly http2: Http2Sessions | undefined;

  constructor(readonly server: net.Server) {
    // An https server serves requests on the TLS socket, so that is the one to track.
    const connectionEvent = server instanceof tls.Server ? 'secureConnection' : 'connection';
    server.on(connectionEvent, (socket: Duplex) => this.trackSocket(socket));
    if (Http2Sessions.serves(server)) {
      this.http2 = new Http2Sessions(server);
    } else if (server instanceof http.Server || server instanceof tls.Server) {
      // No per-request listener until a drain starts: counting reads each socket's current response,
      // so serving costs what app.listen costs (the benchmark measured a 'request' listener at 2-4 µs
      // per request: 15% of a bare http server's CPU per request).
      // Listening for 'upgrade' changes how Node treats upgrade requests, so only follow the app's lead.
      const watchUpgrades = (event: string | symbol): void => {
        if (event !== 'upgrade') return;
        server.off('newListener', watchUpgrades);
        server.on('upgrade', (_req: http.IncomingMessage, socket: Duplex) => this.markUpgraded(socket));
      };
      if (server.listenerCount('upgrade') > 0) watchUpgrades('upgrade');
      else server.on('newListener', watchUpgrades);
    }
  }

  get draining(): boolean {
    return this.drainingSince !== undefined;
  }

  counts(): ConnectionCounts {
    const counts: ConnectionCounts = { sockets: this.sockets.size, activeRequests: 0, idle: 0, upgraded: 0 };
    if (this.http2) return { ...counts, activeRequests: this.http2.activeStreams(), idle: this.http2.idleSessions() };
    for (const [socket, state] of this.sockets) {
      if (state.upgraded) counts.upgraded += 1;
      else if (currentResponse(socket)) counts.activeRequests += 1;
      else counts.idle += 1;
    }
    return counts;
  }

  /** WebSocket and other upgraded sockets: the app should close them (e.g. with 1012 Service Restart). */
  upgradedSockets(): Duplex[] {
    return [...this.sockets].filter(([, state]) => state.upgraded).map(([socket]) => socket);
  }

  /**
   * Closes the listening handle only (http.Server#close() would also close idle sockets, racing
   * clients). A unix socket's path goes with it: this was the last process to serve it.
   */
  stopAccepting(): void {
    if (!this.server.listening) return;
    net.Server.prototype.close.call(this.server);
  }

  /**
   * Stops accepting here while the socket lives on in another process (a successor, a supervisor):
   * like stopAccepting(), but a unix socket's path survives for the process that still serves it.
   */
  handOverListener(): void {
    if (!this.server.listening) return;
    closeKeepingUnixPath(() => void net.Server.prototype.close.call(this.server), this.server);
  }

  /**
   * Stops accepting (if handOverListener() did not already) and resolves when every connection has
   * closed, or at `deadlineMs`, when whatever is left is destroyed and counted in `forced`.
   */
  async drain(deadlineMs: number): Promise<DrainResult> {
    const started = Date.now();
    this.stopAccepting();
    if (this.drainingSince === undefined) {
      this.drainingSince = started;
      if (this.servesHttp1()) this.startHttpDrain();
      this.http2?.closeAll();
    }
    const sweep = setInterval(() => this.closeExpiredIdleSockets(), SWEEP_INTERVAL_MS);
    sweep.unref();
    let deadline: NodeJS.Timeout | undefined;
    const outcome = await new Promise<'drained' | 'deadline' | 'resumed'>((resolve) => {
      this.cancelDrain = () => resolve('resumed');
      if (this.sockets.size === 0) return resolve('drained');
      this.drainedWaiters.push(() => resolve('drained'));
      deadline = setTimeout(() => resolve('deadline'), deadlineMs);
      deadline.unref();
    });
    this.cancelDrain = undefined;
    clearInterval(sweep);
    clearTimeout(deadline);
    const forced = outcome === 'deadline' ? this.destroyAll() : 0;
    return { durationMs: Date.now() - started, forced, ...(outcome === 'resumed' ? { resumed: true } : {}) };
  }

  /**
   * Undoes a drain (a rollback: the successor died and this server accepts again): responses no
   * longer get `Connection: close`, the deadline is off, and the pending drain() resolves with
   * `resumed` and nothing forced. Connections already told to close still close. Listening again is
   * the caller's job. HTTP/2 sessions already sent GOAWAY finish; new ones are served normally.
   */
  resume(): void {
    if (this.drainingSince === undefined) return;
    this.drainingSince = undefined;
    if (this.drainRequestListener) this.server.off('request', this.drainRequestListener);
    this.drainRequestListener = undefined;
    this.drainedWaiters = [];
    this.cancelDrain?.();
  }

  /** Destroys every tracked socket at once; returns how many there were. */
  destroyAll(): number {
    const count = this.sockets.size;
    for (const socket of [...this.sockets.keys()]) socket.destroy();
    return count;
  }

  private trackSocket(socket: Duplex): void {
    this.watchIdleTimesWithoutKeepAliveTimer();
    this.sockets.set(socket, { upgraded: false, idleSince: Date.now(), bytesReadWhenIdle: bytesRead(socket) });
    socket.once('close', () => {
      this.sockets.delete(socket);
      if (this.sockets.size === 0 && this.drainedWaiters.length > 0) {
        const waiters = this.drainedWaiters;
        this.drainedWaiters = [];
        for (const wake of waiters) wake();
      }
    });
  }

  /**
   * `Connection: close` on every response not started yet and on every request still arriving on an
   * old keep-alive socket: the client learns to reconnect, and reconnects to the next generation.
   */
  private startHttpDrain(): void {
    for (const [socket, state] of this.sockets) {
      const res = currentResponse(socket);
      if (res) this.closeAfter(res, socket, state);
    }
    // Prepended so the header is set before an app that answers synchronously sends its headers.
    this.drainRequestListener = (req: http.IncomingMessage, res: http.ServerResponse) => {
      const state = this.sockets.get(req.socket);
      if (state) this.closeAfter(res, req.socket, state);
    };
    this.server.prependListener('request', this.drainRequestListener);
  }

  private closeAfter(res: http.ServerResponse, socket: Duplex, state: SocketState): void {
    if (!res.headersSent) res.setHeader('Connection', 'close');
    this.noteIdleAfter(res, socket, state);
  }

  private noteIdleAfter(res: http.ServerResponse, socket: Duplex, state: SocketState): void {
    // A response emits 'close' exactly once: a tick after 'finish', or when its connection dies first.
    res.once('close', () => {
      state.idleSince = Date.now();
      state.bytesReadWhenIdle = bytesRead(socket);
    });
  }

  /**
   * Node closes a used keep-alive socket on its own timer, so the sweep never needs to know when such
   * a socket went idle. Only a server without that timer (keepAliveTimeout = 0) pays for a per-request
   * listener that records it, so its idle sockets can get their grace during a drain.
   */
  private watchIdleTimesWithoutKeepAliveTimer(): void {
    if (this.watchingIdleTimes || !this.servesHttp1() || (this.server as http.Server).keepAliveTimeout !== 0) return;
    this.watchingIdleTimes = true;
    this.server.prependListener('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      const state = this.sockets.get(req.socket);
      if (state) this.noteIdleAfter(res, req.socket, state);
    });
  }

  private servesHttp1(): boolean {
    return !this.http2 && (this.server instanceof http.Server || this.server instanceof tls.Server);
  }

  private markUpgraded(socket: Duplex): void {
    const state = this.sockets.get(socket);
    if (state) state.upgraded = true;
  }

  /**
   * Node itself closes an idle keep-alive socket when its advertised timer runs out; this only
   * catches the sockets no such timer covers: accepted sockets that never sent a request (Node 20
   * leaves them to headersTimeout, 60 s) and idle sockets of a server with keepAliveTimeout = 0.
   * Both get the same grace a keep-alive client was promised, so nothing closes earlier than that.
   */
  private closeExpiredIdleSockets(): void {
    // HTTP/2 sessions close themselves after GOAWAY; their sockets are never idle in the HTTP/1 sense.
    if (this.http2) return;
    const keepAlive = (this.server as Partial<http.Server>).keepAliveTimeout ?? 0;
    const limit = keepAlive > 0 ? keepAlive + NODE_KEEP_ALIVE_BUFFER_MS : IDLE_LIMIT_WITHOUT_KEEP_ALIVE_MS;
    const now = Date.now();
    for (const [socket, state] of this.sockets) {
      if (state.upgraded || currentResponse(socket)) continue;
      // Bytes arrived since it went idle but no request event yet: a request is on its way in.
      if (bytesRead(socket) > state.bytesReadWhenIdle) continue;
      if (now - state.idleSince >= limit) socket.destroy();
    }
  }
}

function bytesRead(socket: Duplex): number {
  return (socket as net.Socket).bytesRead ?? 0;
}
