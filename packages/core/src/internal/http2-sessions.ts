import type http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';

/**
 * RFC 9113 §6.8's shutdown notice: a GOAWAY (type 0x7, stream 0) with last-stream-id 2^31-1 and NO_ERROR.
 * The client opens no new streams; the server still accepts the ones already on their way.
 */
const SHUTDOWN_NOTICE = Buffer.from(
  [
    '000008', // length 8
    '07', // type GOAWAY
    '00', // no flags
    '00000000', // stream 0
    '7fffffff', // last-stream-id 2^31-1
    '00000000', // error code NO_ERROR
  ].join(''),
  'hex',
);

/**
 * How long the final GOAWAY waits for the PING that follows the notice to come back. The RFC asks for at
 * least one round trip; a client that never answers PING gets its final GOAWAY after this instead.
 */
const PING_WAIT_MS = 2000;

/** Lets a session's (proxied) socket name the real socket it runs on, see plainSocketOf(). */
const REAL_SOCKET = Symbol('baton.realSocket');

/**
 * HTTP/2 has the polite signal HTTP/1.1 lacks: GOAWAY. A draining server sends it on every session; the
 * client opens no new streams there, the streams in flight finish, and the session closes itself.
 *
 * A single GOAWAY names the last stream the server has seen, so a stream the client opened in the same
 * round trip is refused (REFUSED_STREAM: safe to retry, but lost by a client that does not). RFC 9113 §6.8
 * shuts down gracefully instead: a first GOAWAY with last-stream-id 2^31-1, a round trip (a PING), then the
 * final GOAWAY (`session.close()`), which by then covers every stream the client opened.
 *
 * Node offers no way to send that first GOAWAY: `session.goaway(code, 2 ** 31 - 1)` goes through nghttp2,
 * which from then on ignores every new stream (its GOAWAY_SENT state), refuses them at the final GOAWAY,
 * and stops reading (so the PING never comes back). nghttp2's own notice (nghttp2_submit_shutdown_notice)
 * is not exposed. So the notice is written onto the socket next to nghttp2's frames: for a cleartext (h2c)
 * session that is safe (libuv queues whole writes in order, and nghttp2 writes whole frames; a GOAWAY
 * carries no stream or HPACK state). A TLS session cannot take a second writer (Node's TLS stream asserts
 * a single write in flight and aborts the process), so TLS sessions keep the single GOAWAY.
 */
export class Http2Sessions {
  private readonly streams = new Map<http2.Http2Session, number>();
  private closing = false;
  /** h2c: the notice can be written next to nghttp2's frames (not over TLS, see above). */
  private readonly cleartext: boolean;

  constructor(server: net.Server) {
    server.on('session', (session: http2.Http2Session) => {
      this.streams.set(session, 0);
      session.once('close', () => this.streams.delete(session));
      // A session that was accepted just before the drain started gets GOAWAY too.
      if (this.closing) this.goAway(session);
    });
    server.on('stream', (stream: http2.ServerHttp2Stream) => {
      const session = stream.session;
      if (session === undefined || !this.streams.has(session)) return;
      this.streams.set(session, (this.streams.get(session) ?? 0) + 1);
      stream.once('close', () => {
        if (this.streams.has(session)) this.streams.set(session, (this.streams.get(session) ?? 1) - 1);
      });
    });
    this.cleartext = !(server instanceof tls.Server);
    if (this.cleartext) {
      // One property per connection (h2c only): a session's socket is a proxy that refuses writes but
      // reads through to the real socket's properties, and this one names the real socket.
      server.on('connection', (socket: net.Socket) => {
        (socket as unknown as Record<symbol, unknown>)[REAL_SOCKET] = socket;
      });
    }
  }

  /** HTTP/2 servers emit 'session'; Http2Server and Http2SecureServer are the ones with updateSettings(). */
  static serves(server: net.Server): boolean {
    return typeof (server as Partial<http2.Http2Server>).updateSettings === 'function';
  }

  activeStreams(): number {
    let total = 0;
    for (const count of this.streams.values()) total += count;
    return total;
  }

  idleSessions(): number {
    return [...this.streams.values()].filter((count) => count === 0).length;
  }

  /** New sessions are served again (the drain was called off); those that had GOAWAY still close. */
  reopen(): void {
    this.closing = false;
  }

  /** GOAWAY on every session; each closes once its streams are done. */
  closeAll(): void {
    this.closing = true;
    for (const session of this.streams.keys()) this.goAway(session);
  }

  private goAway(session: http2.Http2Session): void {
    if (session.closed || session.destroyed) return;
    if (!this.cleartext) {
      session.close();
      return;
    }
    // A server's SETTINGS must be its first frame (RFC 9113 §3.4), and nghttp2 sends them a turn after the
    // session starts: a notice written before could overtake them. Once the client acknowledged them
    // they are out. (A client that never does gets the single GOAWAY.)
    const final = finalGoAway(session);
    if (!session.pendingSettingsAck) return this.announceShutdown(session, final);
    const timer = setTimeout(final, PING_WAIT_MS);
    timer.unref();
    session.once('localSettings', () => {
      clearTimeout(timer);
      this.announceShutdown(session, final);
    });
  }

  /** The notice, then a PING; the final GOAWAY when the PING comes back (or after PING_WAIT_MS). */
  private announceShutdown(session: http2.Http2Session, final: () => void): void {
    if (session.closed || session.destroyed) return;
    const socket = plainSocketOf(session);
    if (socket === undefined) return final();
    socket.write(SHUTDOWN_NOTICE);
    const timer = setTimeout(final, PING_WAIT_MS);
    timer.unref();
    const pong = (): void => {
      clearTimeout(timer);
      final();
    };
    try {
      // The client answers PING after everything it sent before it, including every stream it opened
      // before it saw the notice: once the answer is here, the final GOAWAY covers them all.
      if (!session.ping(pong)) pong();
    } catch {
      pong();
    }
  }
}

/** The final GOAWAY (naming the last stream processed): `session.close()`, once. */
function finalGoAway(session: http2.Http2Session): () => void {
  return () => {
    if (!session.closed && !session.destroyed) session.close();
  };
}

/** The cleartext TCP socket an h2c session runs on, if it can be written to safely. */
function plainSocketOf(session: http2.Http2Session): net.Socket | undefined {
  let socket: unknown;
  try {
    socket = (session.socket as unknown as Record<symbol, unknown> | undefined)?.[REAL_SOCKET];
  } catch {
    return undefined; // The session has already let go of its socket.
  }
  if (!(socket instanceof net.Socket) || socket instanceof tls.TLSSocket) return undefined;
  return socket.writable && !socket.destroyed ? socket : undefined;
}
