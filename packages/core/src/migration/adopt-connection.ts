import type http from 'node:http';
import type net from 'node:net';

/** Node closes an idle keep-alive socket at keepAliveTimeout + 1 s (a constant in Node 20). */
const NODE_KEEP_ALIVE_BUFFER_MS = 1000;
/** Idle limit of an adopted socket when the server advertises no keep-alive timeout. */
const IDLE_LIMIT_WITHOUT_KEEP_ALIVE_MS = 5000;

/**
 * Serves a connection another generation accepted and handed over (issue 13) as if this server had
 * accepted it: net.Server counts the connections it accepts and links each to itself (lib/net.js
 * onconnection), so server.close(callback) and getConnections() include it, and Node's HTTP server
 * wires it up on 'connection' (the documented way to hand a server a socket).
 *
 * The connection was idle when it moved. Node starts an HTTP socket's keep-alive timer when a response
 * ends, which happened in the other process: so an adopted socket that sends nothing for the server's
 * keep-alive time (plus Node's 1 s) is closed, as it would have been there. Counted from adoption, so
 * never earlier than the client was promised.
 */
export function adoptConnection(server: net.Server, socket: net.Socket): boolean {
  const counted = server as unknown as { _connections: number };
  if (server.maxConnections && counted._connections >= server.maxConnections) {
    socket.destroy();
    return false;
  }
  counted._connections += 1;
  const linked = socket as unknown as { server: net.Server; _server: net.Server };
  linked.server = server;
  linked._server = server;
  server.emit('connection', socket);
  const keepAlive = (server as Partial<http.Server>).keepAliveTimeout ?? 0;
  const limit = keepAlive > 0 ? keepAlive + NODE_KEEP_ALIVE_BUFFER_MS : IDLE_LIMIT_WITHOUT_KEEP_ALIVE_MS;
  const timer = setTimeout(() => {
    // Any byte read since: a request came, and Node's own timers cover the socket from then on.
    if (!socket.destroyed && socket.bytesRead === 0) socket.destroy();
  }, limit);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  return true;
}
