import type http from 'node:http';
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

/** Undefined once the socket was upgraded, closed or handed to another process (Node frees the parser). */
export function parserOf(socket: Duplex): HttpParser | undefined {
  return (socket as { parser?: HttpParser | null }).parser ?? undefined;
}
