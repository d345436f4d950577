import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { Http2Sessions } from './internal/http2-sessions';
import { currentResponse, idleLimitOf, parserOf } from './internal/http1-socket';
import { canMoveNow, discardHusk, holdForMove } from './migration/move-connection';
import { closeKeepingUnixPath } from './internal/unix-path-guard';
import type { ConnectionCounts } from './wire/types';

export type { ConnectionCounts } from './wire/types';

export interface DrainResult {
  durationMs: number;
  /** Connections still open at the deadline, closed by force. */
  forced: number;
  /** Connections handed to the next generation (a reload with migration): they never closed. */
  moved: number;
  /** Connections that closed here during the drain, by the client or by the polite drain. */
  closed: number;
  /** The drain was undone by resume() before it ended (a rollback). */
  resumed?: boolean;
}

/**
 * Hands a socket's descriptor to the process that serves next; resolves true once it is sent (Node's
 * send() takes the socket's handle), false if it could not be.
 */
export type ConnectionMover = (socket: net.Socket) => Promise<boolean>;

/** What a tracked socket carries, which decides how it drains. */
type SocketKind =
  /** The TCP socket of a TLS connection still in its handshake: it becomes a TLS socket, or closes. */
  | 'handshake'
  /** HTTP/1.x: http and https servers, and the HTTP/1 clients of an HTTP/2 server with allowHTTP1. */
  | 'http1'
  /** An HTTP/2 session's socket: it drains with GOAWAY (Http2Sessions). */
  | 'h2'
  /** A plain net or tls server's socket: the tracker knows nothing of its protocol. */
  | 'raw';

interface SocketState {
  kind: SocketKind;
  upgraded: boolean;
  /** When the socket last went idle, as far as the tracker saw: accepted, or a response finished. */
  idleSince: number;
  /** socket.bytesRead at that moment: more since then means the tracker missed requests, or one is arriving. */
  bytesReadWhenIdle: number;
  /** Drain only: when the sweep first saw the socket idle with `bytes` read (see idleStart()). */
  seen?: { bytes: number; at: number };
  /** Drain only: when the sweep first saw a request head (or a TLS handshake) still arriving. */
  arrivingSince?: number;
  /** Drain only: the requests the socket's parser completed so far in the chunk it is executing now. */
  chunkRequests?: http.IncomingMessage[];
  /** Drain only: the response the tracker put `Connection: close` on, and the value it replaced. */
  closing?: { res: http.ServerResponse; connection: HeaderValue };
  /** Drain only: reading stopped, its descriptor on its way to the next generation. */
  moving?: boolean;
}

type HeaderValue = ReturnType<http.ServerResponse['getHeader']>;

/** How often a draining tracker looks for idle sockets that no timer of Node's will close. */
const SWEEP_INTERVAL_MS = 250;
/**
 * How long a request head still arriving during a drain (or a TLS handshake still under way) may take,
 * counted from when the drain saw it arriving; then it gets 408 and its socket closes. A head arrives
 * within a round trip of its first byte; 5 s leaves room for a few TCP retransmissions on a lossy link
 * (initial RTO 1 s, doubling) and equals Node's default keepAliveTimeout, so a client that sends half a
 * request and stalls keeps a retired generation (and its memory) alive no longer than an idle keep-alive
 * socket does. Node's own headersTimeout (60 s, checked every 30 s) is far too long for that; a server
 * configured with a shorter headersTimeout keeps its stricter limit.
 */
const ARRIVAL_LIMIT_MS = 5000;
/** What Node itself answers when a request head takes longer than headersTimeout. */
const REQUEST_TIMEOUT_RESPONSE = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n';
const HEAD_END = '\r\n\r\n';
/**
 * How long a migrating drain keeps new requests on a socket from closing it. A keep-alive client that
 * waits for each response is idle the moment its response is written, and moves then; one that
 * pipelines may never be idle, so requests that arrive after this get `Connection: close`, as in the
 * polite drain, and the old generation is not kept alive by one busy client.
 */
const MIGRATION_WINDOW_MS = 1000;

/**
 * Tracks a server's sockets, requests and upgraded sockets, and drains them politely (DESIGN.md):
 * 1. stop accepting without touching connections;
 * 2. `Connection: close` on every response not yet started and every request still arriving (on the last
 *    request read from a socket, so pipelined requests already read are all answered);
 * 3. idle keep-alive sockets expire on the server's own advertised timer, never earlier;
 * 4. a request still arriving gets a bounded time to arrive (ARRIVAL_LIMIT_MS), then 408;
 * 5. upgraded sockets are the app's to close (see `upgradedSockets()`);
 * 6. a hard deadline closes whatever is left.
 * At a reload with a mover (drain()), plain HTTP/1 connections move to the next generation instead of
 * going through 2 and 3 (connection migration, docs/how-it-works.md).
 * One tracker per server; it works for net, http, https and http2 servers (HTTP/2 drains with GOAWAY,
 * the HTTP/1 clients of an HTTP/2 server with allowHTTP1 like HTTP/1).
 */
export class DrainTracker {
  private readonly sockets = new Map<Duplex, SocketState>();
  private drainingSince: number | undefined;
  /** Pending drain() calls: woken when the last socket closes, or by resume() (nothing closed). */
  private drainWaiters: Array<(outcome: 'drained' | 'resumed') => void> = [];
  /** The 'request' listener a drain adds; resume() takes it off again. */
  private drainRequestListener: ((req: http.IncomingMessage, res: http.ServerResponse) => void) | undefined;
  private watchingIdleTimes = false;
  /** Set for HTTP/2 servers, whose sessions drain with GOAWAY rather than Connection: close. */
  private readonly http2: Http2Sessions | undefined;
  /** An http or https server: every socket speaks HTTP/1. */
  private readonly httpServer: boolean;
  /** Set while a reload's drain hands idle connections to the next generation (see drain()). */
  private mover: ConnectionMover | undefined;
  /** Connections handed over, over this tracker's life. */
  private movedTotal = 0;
  /** This drain's: connections handed over, and connections closed here. */
  private movedInDrain = 0;
  private closedInDrain = 0;

  constructor(readonly server: net.Server) {
    this.http2 = Http2Sessions.serves(server) ? new Http2Sessions(server) : undefined;
    this.httpServer = server instanceof http.Server || server instanceof https.Server;
    if (server instanceof tls.Server) {
      // An https (or http2) server serves requests on the TLS socket, which exists only once the handshake
      // is done. Until then the TCP socket is tracked, so a drain counts a handshake under way and waits
      // for it instead of exiting under it (one more map entry per connection: O(1)).
      server.on('connection', (socket: Duplex) => this.trackSocket(socket, 'handshake'));
      server.on('secureConnection', (socket: tls.TLSSocket) => this.trackSecureSocket(socket));
    } else {
      server.on('connection', (socket: Duplex) => this.trackSocket(socket, this.kindOf(socket)));
    }
    if (this.httpServer) {
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

  /** A socket still in its TLS handshake counts as idle: no request has arrived on it yet. */
  counts(): ConnectionCounts {
    const counts: ConnectionCounts = { sockets: this.sockets.size, activeRequests: 0, idle: 0, upgraded: 0 };
    for (const [socket, state] of this.sockets) {
      if (state.kind === 'h2') continue; // Counted by session, below.
      if (state.upgraded) counts.upgraded += 1;
      else if (currentResponse(socket)) counts.activeRequests += 1;
      else counts.idle += 1;
    }
    if (this.http2) {
      counts.activeRequests += this.http2.activeStreams();
      counts.idle += this.http2.idleSessions();
    }
    return counts;
  }

  /** Connections handed to a next generation so far. */
  get moved(): number {
    return this.movedTotal;
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
   * closed or moved, or at `deadlineMs`, when whatever is left is destroyed and counted in `forced`.
   *
   * With a `mover` (a reload, issue 13) a plain HTTP/1 server's connections move to the next generation
   * instead of closing: each as soon as it is idle with nothing of a next request read (at once, or
   * when its response ends), no `Connection: close` on the way. TLS, HTTP/2 and upgraded connections,
   * and any that cannot move, drain politely as without one.
   */
  async drain(deadlineMs: number, mover?: ConnectionMover): Promise<DrainResult> {
    const started = Date.now();
    this.stopAccepting();
    if (this.drainingSince === undefined) {
      this.drainingSince = started;
      this.movedInDrain = 0;
      this.closedInDrain = 0;
      this.mover = mover !== undefined && this.movesConnections() ? mover : undefined;
      if (this.drainsHttp1()) this.startHttpDrain();
      this.http2?.closeAll();
    }
    const sweep = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    sweep.unref();
    let deadline: NodeJS.Timeout | undefined;
    const outcome = await new Promise<'drained' | 'resumed' | 'deadline'>((resolve) => {
      if (this.sockets.size === 0) return resolve('drained');
      this.drainWaiters.push(resolve);
      deadline = setTimeout(() => resolve('deadline'), deadlineMs);
      deadline.unref();
    });
    clearInterval(sweep);
    clearTimeout(deadline);
    const moves = { moved: this.movedInDrain, closed: this.closedInDrain };
    if (outcome === 'resumed') return { durationMs: Date.now() - started, forced: 0, ...moves, resumed: true };
    const forced = outcome === 'drained' ? 0 : this.destroyAll();
    return { durationMs: Date.now() - started, forced, ...moves };
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
    this.mover = undefined;
    if (this.drainRequestListener) this.server.off('request', this.drainRequestListener);
    this.drainRequestListener = undefined;
    this.http2?.reopen();
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const wake of waiters) wake('resumed');
  }

  /** Destroys every tracked socket at once; returns how many there were. */
  destroyAll(): number {
    const count = this.sockets.size;
    for (const socket of [...this.sockets.keys()]) socket.destroy();
    return count;
  }

  private trackSocket(socket: Duplex, kind: SocketKind): void {
    if (kind === 'http1') this.watchIdleTimesWithoutKeepAliveTimer();
    this.sockets.set(socket, { kind, upgraded: false, idleSince: Date.now(), bytesReadWhenIdle: bytesRead(socket) });
    socket.once('close', () => {
      // A TCP socket whose TLS socket took its place, or a moved one, is no longer in the map.
      if (this.untrack(socket) && this.draining) this.closedInDrain += 1;
    });
    // A connection handed over from the previous generation while this one already drains for a reload
    // (reloads in quick succession) moves on as soon as it can: it is idle.
    if (this.mover !== undefined && kind === 'http1') {
      const state = this.sockets.get(socket) as SocketState;
      queueMicrotask(() => this.tryMove(socket, state));
    }
  }

  /** Forgets a socket; wakes the drain once none is left. False if it was not tracked. */
  private untrack(socket: Duplex): boolean {
    if (!this.sockets.delete(socket)) return false;
    if (this.sockets.size === 0 && this.drainWaiters.length > 0) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const wake of waiters) wake('drained');
    }
    return true;
  }

  /** Only a plain http server's sockets can move: TLS state cannot travel with a descriptor. */
  private movesConnections(): boolean {
    return this.httpServer && !(this.server instanceof tls.Server);
  }

  /** Whether a request arriving now should leave its socket open to move (see MIGRATION_WINDOW_MS). */
  private migrating(): boolean {
    return this.mover !== undefined && Date.now() - (this.drainingSince ?? 0) < MIGRATION_WINDOW_MS;
  }

  /** Moves the socket to the next generation if it can move now; otherwise a later chance will. */
  private tryMove(socket: Duplex, state: SocketState): void {
    const mover = this.mover;
    if (mover === undefined || state.moving || state.upgraded || !this.sockets.has(socket) || !canMoveNow(socket))
      return;
    state.moving = true;
    const held = holdForMove(socket);
    void mover(socket).then(
      (sent) => this.moveDone(socket, state, held, sent),
      () => this.moveDone(socket, state, held, false),
    );
  }

  private moveDone(socket: net.Socket, state: SocketState, held: ReturnType<typeof holdForMove>, sent: boolean): void {
    if (sent) {
      this.movedTotal += 1;
      this.movedInDrain += 1;
      this.untrack(socket);
      discardHusk(socket);
      return;
    }
    // The next generation is gone (or its channel is): nothing more moves, the rest drains politely.
    state.moving = false;
    held.closeIfOrphaned();
    held.resume();
    this.stopMoving();
  }

  /** Falls back to the polite drain for every socket still here. */
  private stopMoving(): void {
    if (this.mover === undefined) return;
    this.mover = undefined;
    if (!this.draining) return;
    for (const [socket, state] of this.sockets) {
      if (state.kind !== 'http1' || state.upgraded) continue;
      const res = currentResponse(socket);
      if (res) this.followPipeline(res, socket, state);
    }
  }

  /** Follows a socket's responses until it is idle, then moves it (see canMoveNow for when it can). */
  private moveAfter(res: http.ServerResponse, socket: Duplex, state: SocketState): void {
    res.once('finish', () => {
      if (!this.draining || this.mover === undefined) return;
      // Node's own 'finish' listener ran first: the next pipelined response is current now, if any.
      const next = currentResponse(socket);
      if (next !== undefined && next !== res) this.moveAfter(next, socket, state);
      else this.tryMove(socket, state);
    });
  }

  /** The handshake is done: the TLS socket takes the place of the TCP socket it runs on. */
  private trackSecureSocket(socket: tls.TLSSocket): void {
    // Node keeps the TCP socket a server-side TLS socket wraps as its handle's _parentWrap.
    const tcp = (socket as unknown as { _handle?: { _parentWrap?: unknown } | null })._handle?._parentWrap;
    if (tcp === undefined || !this.sockets.delete(tcp as Duplex)) this.forgetHandshakeOf(socket);
    this.trackSocket(socket, this.kindOf(socket));
  }

  /** What a connected (or TLS) socket of this server carries; an HTTP/2 server's TLS socket says by ALPN. */
  private kindOf(socket: Duplex): SocketKind {
    if (this.http2) return socket instanceof tls.TLSSocket && socket.alpnProtocol !== 'h2' ? 'http1' : 'h2';
    return this.httpServer ? 'http1' : 'raw';
  }

  /** Fallback should Node's internals change: the handshaking socket with the same peer. */
  private forgetHandshakeOf(socket: tls.TLSSocket): void {
    for (const [tcp, state] of this.sockets) {
      const peer = tcp as net.Socket;
      const samePeer = peer.remotePort === socket.remotePort && peer.remoteAddress === socket.remoteAddress;
      if (state.kind === 'handshake' && samePeer) {
        this.sockets.delete(tcp);
        return;
      }
    }
  }

  /**
   * An HTTP/2 server hands its HTTP/1 clients (allowHTTP1) to the app through 'request'. A 'request'
   * listener on an HTTP/2 server that has none would switch on Node's compatibility layer for every stream
   * (which answers CONNECT and Expect itself), so only a server whose app listens to 'request' gets one.
   */
  private drainsHttp1(): boolean {
    return this.httpServer || (this.http2 !== undefined && this.server.listenerCount('request') > 0);
  }

  /**
   * `Connection: close` on every response not started yet and on every request still arriving on an
   * old keep-alive socket: the client learns to reconnect, and reconnects to the next generation.
   */
  private startHttpDrain(): void {
    for (const [socket, state] of this.sockets) {
      if (state.kind !== 'http1' || state.upgraded) continue;
      const res = currentResponse(socket);
      if (this.mover === undefined) {
        if (res) this.followPipeline(res, socket, state);
      } else if (res) this.moveAfter(res, socket, state);
      else this.tryMove(socket, state);
    }
    this.drainRequestListener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      // An HTTP/2 request (compatibility API) drains with its session's GOAWAY.
      if (req.httpVersionMajor !== 1) return;
      const state = this.sockets.get(req.socket);
      if (!state) return;
      this.noteIdleAfter(res, req.socket, state);
      if (this.migrating()) this.moveAfter(res, req.socket, state);
      else if (this.isLastRequestRead(req, this.requestsInChunk(req, state))) this.closeAfter(res, state);
    };
    // Prepended so the header is set before an app that answers synchronously sends its headers.
    this.server.prependListener('request', this.drainRequestListener);
  }

  /**
   * At drain start Node may hold responses queued behind the one it is writing: pipelined requests read
   * before the drain. They are out of reach until each becomes the socket's response in turn, so the
   * tracker follows the queue until it reaches the response to the last request read.
   */
  private followPipeline(res: http.ServerResponse, socket: Duplex, state: SocketState): void {
    this.noteIdleAfter(res, socket, state);
    if (this.isLastRequestRead(res.req)) {
      this.closeAfter(res, state);
      return;
    }
    res.once('finish', () => {
      if (!this.draining) return; // resume() called the drain off.
      // Node's own 'finish' listener, added before the app ever saw `res`, has moved the next one in.
      const next = currentResponse(socket);
      if (next !== undefined && next !== res) this.followPipeline(next, socket, state);
    });
  }

  /**
   * Whether `req` is the last request read from its socket so far. Only its response may carry
   * `Connection: close`: Node closes the socket right after that response and drops the responses to
   * requests pipelined behind it, which still ran (a client that wrote 5 requests at once saw all 5 run
   * and 1 answered). `inChunk`: the requests parsed so far in the chunk being parsed now, `req` last.
   */
  private isLastRequestRead(req: http.IncomingMessage, inChunk?: http.IncomingMessage[]): boolean {
    const parser = parserOf(req.socket);
    if (parser === undefined) return true;
    // A newer request has been parsed, or the head of one is half read.
    if (parser.incoming && parser.incoming !== req) return false;
    if (parser.headersCompleted?.() === false) return false;
    // Outside a 'request' event every request read has been parsed: Node parses a chunk to its end
    // before anything else runs. (Unless the drain started from inside a request handler while a
    // pipelined chunk was half parsed: then the close may land on an earlier response, as it used to.)
    if (inChunk === undefined) return true;
    // Inside one, requests after this one may sit in the chunk, not parsed yet.
    const chunk = parser.getCurrentBuffer?.();
    return chunk === undefined || chunk.length === 0 || nothingAfter(chunk, inChunk);
  }

  /** The requests the socket's parser has completed in the chunk it is executing now, `req` last. */
  private requestsInChunk(req: http.IncomingMessage, state: SocketState): http.IncomingMessage[] {
    if (state.chunkRequests === undefined) {
      state.chunkRequests = [];
      // Node runs no microtask while its parser executes a chunk: this runs once the chunk is done.
      queueMicrotask(() => (state.chunkRequests = undefined));
    }
    state.chunkRequests.push(req);
    return state.chunkRequests;
  }

  /**
   * `Connection: close` on `res`, taken back from an earlier response of the same socket that has not
   * started and turned out not to be the last (a request was pipelined behind it).
   */
  private closeAfter(res: http.ServerResponse, state: SocketState): void {
    const earlier = state.closing;
    if (earlier?.res === res) return;
    if (earlier !== undefined && !earlier.res.headersSent) restoreConnectionHeader(earlier.res, earlier.connection);
    state.closing = undefined;
    if (res.headersSent) return;
    state.closing = { res, connection: res.getHeader('connection') };
    res.setHeader('Connection', 'close');
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
    if (this.watchingIdleTimes || !this.httpServer || (this.server as http.Server).keepAliveTimeout !== 0) return;
    this.watchingIdleTimes = true;
    this.server.prependListener('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      const state = this.sockets.get(req.socket);
      if (state) this.noteIdleAfter(res, req.socket, state);
    });
  }

  private markUpgraded(socket: Duplex): void {
    const state = this.sockets.get(socket);
    if (state) state.upgraded = true;
  }

  /**
   * Runs while draining. Node itself closes an idle keep-alive socket when its advertised timer runs
   * out; this catches the sockets no timer of Node's covers soon enough: accepted sockets that never
   * sent a request (Node 20 leaves them to headersTimeout, 60 s), idle sockets of a server with
   * keepAliveTimeout = 0 (or an HTTP/2 server's HTTP/1 clients, which have no timer at all), request heads
   * and TLS handshakes that stall. Idle sockets get the grace a keep-alive client was promised, so nothing
   * idle closes earlier than that.
   */
  private sweep(): void {
    const now = Date.now();
    for (const [socket, state] of this.sockets) {
      // HTTP/2 sessions close themselves after GOAWAY.
      if (state.kind === 'h2') continue;
      if (state.kind === 'handshake') {
        if (this.arrivingTooLong(state, now)) socket.destroy();
        continue;
      }
      if (state.upgraded || currentResponse(socket)) {
        state.arrivingSince = undefined;
        continue;
      }
      if (state.moving) continue;
      if (this.mover !== undefined && state.kind === 'http1') {
        // Idle but not movable when last looked at (a body still being read, say): maybe it is now.
        this.tryMove(socket, state);
        if (state.moving) continue;
      }
      const parser = state.kind === 'http1' ? parserOf(socket) : undefined;
      if (parser?.headersCompleted) {
        this.sweepHttp1(socket, state, parser.headersCompleted(), now);
        continue;
      }
      // Bytes arrived since it went idle but no request event yet: a request is on its way in.
      if (bytesRead(socket) > state.bytesReadWhenIdle) continue;
      if (now - state.idleSince >= this.idleLimit()) socket.destroy();
    }
  }

  /** An HTTP/1 socket with no response in progress: silent, a head arriving, or idle between requests. */
  private sweepHttp1(socket: Duplex, state: SocketState, headComplete: boolean, now: number): void {
    const bytes = bytesRead(socket);
    if (bytes > 0 && !headComplete) {
      if (this.arrivingTooLong(state, now)) answerRequestTimeout(socket);
      return;
    }
    state.arrivingSince = undefined;
    if (bytes === 0) {
      // Never sent a byte: it gets no longer than a request does to arrive. Nothing was asked, so nothing
      // is answered: it closes like an idle keep-alive socket (a client retries a request it sends into that).
      if (now - state.idleSince >= Math.min(this.idleLimit(), this.arrivalLimit())) socket.destroy();
      return;
    }
    if (now - this.idleStart(state, bytes, now) >= this.idleLimit()) socket.destroy();
  }

  /**
   * When the socket went idle, or a moment after: exact if the tracker saw its last response end and no
   * byte arrived since; otherwise (requests came and went while nothing listened for them, as outside a
   * drain) when the sweep first saw it idle with this many bytes read, which is never earlier.
   */
  private idleStart(state: SocketState, bytes: number, now: number): number {
    if (bytes === state.bytesReadWhenIdle) return state.idleSince;
    if (state.seen?.bytes !== bytes) state.seen = { bytes, at: now };
    return state.seen.at;
  }

  /** A request head or TLS handshake still arriving: true once it has taken the arrival limit. */
  private arrivingTooLong(state: SocketState, now: number): boolean {
    state.arrivingSince ??= now;
    return now - state.arrivingSince >= this.arrivalLimit();
  }

  private idleLimit(): number {
    return idleLimitOf(this.server);
  }

  private arrivalLimit(): number {
    const headersTimeout = (this.server as Partial<http.Server>).headersTimeout ?? 0;
    return headersTimeout > 0 ? Math.min(headersTimeout, ARRIVAL_LIMIT_MS) : ARRIVAL_LIMIT_MS;
  }
}

function bytesRead(socket: Duplex): number {
  return (socket as net.Socket).bytesRead ?? 0;
}

/**
 * Whether `chunk`, the data the parser is executing, holds no byte after the last of `requests`, the
 * requests completed in it so far, in order. Node runs pipelined requests one by one as it parses a
 * chunk, so an app that answers at once sends the first response before the parser has seen the second
 * request. A head ends at CRLFCRLF, its body (by Content-Length) follows. What this cannot account for
 * (a chunked body, a head split across chunks) counts as nothing after: the close goes on this response.
 */
function nothingAfter(chunk: Buffer, requests: http.IncomingMessage[]): boolean {
  let end = 0;
  for (const req of requests) {
    const head = chunk.indexOf(HEAD_END, end);
    const body = bodyLength(req);
    if (head < 0 || body === undefined) return true;
    end = head + HEAD_END.length + body;
  }
  return end >= chunk.length;
}

function bodyLength(req: http.IncomingMessage): number | undefined {
  if (req.headers['transfer-encoding'] !== undefined) return undefined;
  const length = Number(req.headers['content-length'] ?? 0);
  return Number.isSafeInteger(length) && length >= 0 ? length : undefined;
}

/** Puts back the Connection header a response had before the tracker set `close`. */
function restoreConnectionHeader(res: http.ServerResponse, connection: HeaderValue): void {
  if (connection !== undefined) {
    res.setHeader('Connection', connection);
    return;
  }
  res.removeHeader('Connection');
  // removeHeader() also tells Node to send no Connection header at all; the default it would have sent
  // (keep-alive, with the Keep-Alive timeout hint clients use to give idle sockets up first) is better.
  const internal = res as unknown as { _removedConnection?: boolean };
  if (internal._removedConnection === true) internal._removedConnection = false;
}

/** 408 and close, as Node does when headersTimeout runs out; a second call (the write pending) closes at once. */
function answerRequestTimeout(socket: Duplex): void {
  if (!socket.writable) {
    socket.destroy();
  } else if (socket instanceof tls.TLSSocket) {
    // A TLS write completes later: close once it is out.
    socket.write(REQUEST_TIMEOUT_RESPONSE);
    socket.destroySoon();
  } else {
    // On TCP the 408 is in the kernel's send buffer when write() returns on an idle socket; the kernel
    // sends it before the FIN.
    socket.write(REQUEST_TIMEOUT_RESPONSE);
    socket.destroy();
  }
}
