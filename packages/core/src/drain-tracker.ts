import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { Http2Sessions } from './internal/http2-sessions';
import { closeKeepingUnixPath } from './internal/unix-path-guard';

/** What a server holds at one moment. `idle` includes sockets that never sent a request. */
export interface ConnectionCounts {
  sockets: number;
  activeRequests: number;
  idle: number;
  upgraded: number;
}

export interface DrainResult {
  durationMs: number;
  /** Connections still open at the deadline, closed by force. */
  forced: number;
}

interface SocketState {
  activeRequests: number;
  upgraded: boolean;
  /** When the socket last went idle: accepted, or its last response finished. */
  idleSince: number;
  /** socket.bytesRead at that moment: more since then means a request is on its way in. */
  bytesReadWhenIdle: number;
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
  private readonly pendingResponses = new Set<http.ServerResponse>();
  private drainingSince: number | undefined;
  private drainedWaiters: Array<() => void> = [];
  /** Set for HTTP/2 servers, whose drain is GOAWAY rather than Connection: close. */
  private readonly http2: Http2Sessions | undefined;

  constructor(readonly server: net.Server) {
    // An https server serves requests on the TLS socket, so that is the one to track.
    const connectionEvent = server instanceof tls.Server ? 'secureConnection' : 'connection';
    server.on(connectionEvent, (socket: Duplex) => this.trackSocket(socket));
    if (Http2Sessions.serves(server)) {
      this.http2 = new Http2Sessions(server);
    } else if (server instanceof http.Server || server instanceof tls.Server) {
      // Prepended so the header is set before an app that answers synchronously sends its headers.
      server.prependListener('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.trackRequest(req, res));
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
    for (const state of this.sockets.values()) {
      counts.activeRequests += state.activeRequests;
      if (state.upgraded) counts.upgraded += 1;
      else if (state.activeRequests === 0) counts.idle += 1;
    }
    return counts;
  }

  /** WebSocket and other upgraded sockets: the app should close them (e.g. with 1012 Service Restart). */
  upgradedSockets(): Duplex[] {
    return [...this.sockets].filter(([, state]) => state.upgraded).map(([socket]) => socket);
  }

  /**
   * Closes the listening handle only (http.Server#close() would also close idle sockets, racing
   * clients). `handedOver`: the socket lives on in the next generation, so a unix path must survive.
   */
  stopAccepting(handedOver = false): void {
    if (!this.server.listening) return;
    const close = (): void => void net.Server.prototype.close.call(this.server);
    if (handedOver) closeKeepingUnixPath(close, this.server);
    else close();
  }

  /**
   * Stops accepting and resolves when every connection has closed, or at `deadlineMs`,
   * when whatever is left is destroyed and counted in `forced`.
   */
  async drain(deadlineMs: number, handedOver = false): Promise<DrainResult> {
    const started = Date.now();
    this.drainingSince ??= started;
    this.stopAccepting(handedOver);
    for (const res of this.pendingResponses) {
      if (!res.headersSent) res.setHeader('Connection', 'close');
    }
    this.http2?.closeAll();
    const sweep = setInterval(() => this.closeExpiredIdleSockets(), SWEEP_INTERVAL_MS);
    sweep.unref();
    let deadline: NodeJS.Timeout | undefined;
    const finished = await new Promise<boolean>((resolve) => {
      if (this.sockets.size === 0) return resolve(true);
      this.drainedWaiters.push(() => resolve(true));
      deadline = setTimeout(() => resolve(false), deadlineMs);
      deadline.unref();
    });
    clearInterval(sweep);
    clearTimeout(deadline);
    const forced = finished ? 0 : this.destroyAll();
    return { durationMs: Date.now() - started, forced };
  }

  /** Destroys every tracked socket at once; returns how many there were. */
  destroyAll(): number {
    const count = this.sockets.size;
    for (const socket of [...this.sockets.keys()]) socket.destroy();
    return count;
  }

  private trackSocket(socket: Duplex): void {
    this.sockets.set(socket, { activeRequests: 0, upgraded: false, idleSince: Date.now(), bytesReadWhenIdle: bytesRead(socket) });
    socket.once('close', () => {
      this.sockets.delete(socket);
      if (this.sockets.size === 0 && this.drainedWaiters.length > 0) {
        const waiters = this.drainedWaiters;
        this.drainedWaiters = [];
        for (const wake of waiters) wake();
      }
    });
  }

  private trackRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const state = this.sockets.get(req.socket);
    if (state) state.activeRequests += 1;
    this.pendingResponses.add(res);
    // A request still arriving on an old keep-alive socket: answer it, and tell the client to reconnect.
    if (this.draining) res.setHeader('Connection', 'close');
    // A response emits 'close' exactly once: a tick after 'finish', or when its connection dies first.
    res.once('close', () => {
      this.pendingResponses.delete(res);
      if (state) {
        state.activeRequests -= 1;
        state.idleSince = Date.now();
        state.bytesReadWhenIdle = bytesRead(req.socket);
      }
    });
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
      if (state.upgraded || state.activeRequests > 0) continue;
      // Bytes arrived since it went idle but no request event yet: a request is on its way in.
      if (bytesRead(socket) > state.bytesReadWhenIdle) continue;
      if (now - state.idleSince >= limit) socket.destroy();
    }
  }
}

function bytesRead(socket: Duplex): number {
  return (socket as net.Socket).bytesRead ?? 0;
}
