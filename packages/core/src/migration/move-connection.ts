import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { currentResponse, parserOf } from '../internal/http1-socket';

/** The libuv stream under a net.Socket, as far as a move touches it. */
interface StreamHandle {
  reading?: boolean;
  writeQueueSize?: number;
  readStart(): number;
  readStop(): number;
  close(): void;
}

function handleOf(socket: net.Socket): StreamHandle | undefined {
  const handle = (socket as unknown as { _handle?: StreamHandle | null })._handle ?? undefined;
  return handle && typeof handle.readStop === 'function' && typeof handle.readStart === 'function' ? handle : undefined;
}

/**
 * Whether an HTTP/1 server's socket can move to another process now without losing a byte (issue 13):
 * a plain TCP connection (TLS state cannot travel with the descriptor; HTTP/2 and upgraded sockets
 * have a protocol state of their own) with no response in progress, nothing left to write, and
 * nothing read of a next request. Node's parser says the last: `headersCompleted()` turns false on the
 * first byte of a request and true when its head is complete, and `incoming` stays set until the
 * request's body has been read. JS only runs between reads, and Node parses each read to its end, so
 * whatever this process has read is parsed by the time this is asked: the rest is in the kernel, and
 * moves with the descriptor.
 */
export function canMoveNow(socket: Duplex): socket is net.Socket {
  if (!(socket instanceof net.Socket) || socket instanceof tls.TLSSocket) return false;
  const handle = handleOf(socket);
  // Unix socket connections have no remote address: only TCP is moved (the only kind tested).
  if (handle === undefined || socket.remoteAddress === undefined) return false;
  if (socket.destroyed || !socket.readable || !socket.writable) return false;
  if (socket.writableLength > 0 || (handle.writeQueueSize ?? 0) > 0) return false;
  if (currentResponse(socket) !== undefined) return false;
  const parser = parserOf(socket);
  if (parser?.headersCompleted === undefined) return false;
  // Nothing read at all: a connection that never sent a request.
  if (socket.bytesRead === 0) return true;
  // A head is arriving (or, before the first request, bytes were read: not this case, bytesRead > 0).
  if (!parser.headersCompleted()) return false;
  // The last request's body is still arriving (its response ended before the app read it).
  if (parser.incoming && !parser.incoming.complete) return false;
  return true;
}

/** A socket whose reading is stopped for a move; `resume` undoes that if the move did not happen. */
export interface HeldSocket {
  /** Reads again, if the socket still has its descriptor (the move never took it). */
  resume(): void;
  /** Closes the descriptor if the socket lost it but it never reached the other process. */
  closeIfOrphaned(): void;
}

/**
 * Stops reading, so what the client sends from now on stays in the kernel and arrives in the process
 * that adopts the descriptor; and stops the keep-alive timer, so it cannot close the socket while the
 * move waits its turn (Node sends one descriptor at a time, each after the last was acknowledged).
 */
export function holdForMove(socket: net.Socket): HeldSocket {
  const handle = handleOf(socket) as StreamHandle;
  // The keep-alive timer Node set when the last response ended, to put back if the socket stays.
  const timeout = (socket as { timeout?: number }).timeout ?? 0;
  handle.reading = false;
  handle.readStop();
  socket.setTimeout(0);
  const attached = (): boolean => handleOf(socket) === handle;
  return {
    resume: () => {
      if (!attached() || socket.destroyed || handle.reading === true) return;
      handle.reading = true;
      handle.readStart();
      if (timeout > 0) socket.setTimeout(timeout);
    },
    closeIfOrphaned: () => {
      if (!attached()) handle.close();
    },
  };
}

/**
 * What is left of a socket whose descriptor went to another process: Node's send() took its handle and
 * freed its parser, but emits no 'close'. Destroying the husk closes nothing (it has no descriptor) and
 * emits 'close', so the HTTP server, the drain tracker and the app forget it. Node's send() already took
 * it off the server's connection count: unlinking the server keeps destroy() from counting it again.
 */
export function discardHusk(socket: net.Socket): void {
  (socket as unknown as { _server: unknown })._server = null;
  socket.destroy();
}
