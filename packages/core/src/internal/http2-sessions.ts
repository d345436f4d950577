import type http2 from 'node:http2';
import type net from 'node:net';

/**
 * HTTP/2 has the polite signal HTTP/1.1 lacks: GOAWAY. A draining server sends it on every session
 * (`session.close()`); the client opens no new streams there, the streams in flight finish, and the
 * session closes itself. A stream the client started before it saw GOAWAY is refused with
 * REFUSED_STREAM, which the protocol says is safe to retry elsewhere.
 */
export class Http2Sessions {
  private readonly streams = new Map<http2.Http2Session, number>();
  private closing = false;

  constructor(server: net.Server) {
    server.on('session', (session: http2.Http2Session) => {
      this.streams.set(session, 0);
      session.once('close', () => this.streams.delete(session));
      // A session that was accepted just before the drain started gets GOAWAY too.
      if (this.closing) session.close();
    });
    server.on('stream', (stream: http2.ServerHttp2Stream) => {
      const session = stream.session;
      if (session === undefined || !this.streams.has(session)) return;
      this.streams.set(session, (this.streams.get(session) ?? 0) + 1);
      stream.once('close', () => {
        if (this.streams.has(session)) this.streams.set(session, (this.streams.get(session) ?? 1) - 1);
      });
    });
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

  /** GOAWAY on every session; each closes once its streams are done. */
  closeAll(): void {
    this.closing = true;
    for (const session of this.streams.keys()) session.close();
  }
}
