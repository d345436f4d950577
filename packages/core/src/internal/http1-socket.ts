import type http from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';

/** Node's HTTP/1 parser of a socket (`socket.parser`), as far as baton reads it. */
export interface HttpParser {
  /** The newest request whose head was parsed, until its body has been read and its response is done. */
  incoming?: http.IncomingMessage | null;
  /** False from the first byte of a request until its head is complete (and before any request). */
  headersCompleted?: () => boolean;
  /** The chunk the parser is executing (empty between chunks). */
  getCurrentBuffer?: () => Buffer;
}

/** Node's own closeIdleConnections() reads the same field: the response a socket is serving now. */
export function currentResponse(socket: Duplex): http.ServerResponse | undefined {
  return (socket as { _httpMessage?: http.ServerResponse | null })._httpMessage ?? undefined;
}

/** Node closes an idle keep-alive socket at keepAliveTimeout + 1 s (a constant in Node 20). */
const NODE_KEEP_ALIVE_BUFFER_MS = 1000;
/** Idle limit when the server advertises no keep-alive timeout (keepAliveTimeout = 0). */
const IDLE_LIMIT_WITHOUT_KEEP_ALIVE_MS = 5000;

/**
 * How long an idle connection of `server` may stay before it is closed: when Node itself would close it
 * (never earlier than a keep-alive client was promised), or a few seconds where Node sets no timer.
 */
export function idleLimitOf(server: net.Server): number {
  const keepAlive = (server as Partial<http.Server>).keepAliveTimeout ?? 0;
  return keepAlive > 0 ? keepAlive + NODE_KEEP_ALIVE_BUFFER_MS : IDLE_LIMIT_WITHOUT_KEEP_ALIVE_MS;
}

/** Undefined once the socket was upgraded, closed or handed to another process (Node frees the parser). */
export function parserOf(socket: Duplex): HttpParser | undefined {
  return (socket as { parser?: HttpParser | null }).parser ?? undefined;
}
