import { idleLimitOf } from '../internal/http1-socket';
import type net from 'node:net';

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
  const timer = setTimeout(() => {
    // Any byte read since: a request came, and Node's own timers cover the socket from then on.
    if (!socket.destroyed && socket.bytesRead === 0) socket.destroy();
  }, idleLimitOf(server));
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  return true;
}
