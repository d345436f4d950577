import fs from 'node:fs';
import net from 'node:net';
import { BatonError, errorToWire, type WireError } from '../errors';
import { lifecycleChannel, type LifecycleLog, type LifecycleMessage } from '../logger';
import { closeKeepingUnixPath } from '../internal/unix-path-guard';
import { MAX_REQUEST_BYTES, type ControlEvent, type ControlRequest, type ControlTarget } from '../wire/control';
import { listenPrivately, removeIfStale } from './socket-path';

/**
 * A client has this long, from connect, to send its whole request line: a deadline, not an idle
 * timeout, so a byte every few seconds cannot hold a connection open.
 */
export const REQUEST_DEADLINE_MS = 5_000;

/**
 * The unix control socket behind `baton reload` and `baton status`, for both modes. It serves one
 * request per connection (see protocol.ts). Who may connect is settled by the socket file's mode
 * (socket-path.ts); the server itself trusts whoever got through.
 */
export class ControlServer {
  private readonly connections = new Set<net.Socket>();

  private constructor(
    readonly file: string,
    private readonly server: net.Server,
    private readonly target: ControlTarget,
    private readonly log: LifecycleLog,
    /** Adopted from a predecessor: libuv will not unlink a path it did not bind, so we do it ourselves. */
    private readonly adopted: boolean,
  ) {
    server.on('connection', (socket) => this.serve(socket));
  }

  /** Binds a fresh socket at `file` (already checked by checkControlPath), removing a stale one. */
  static async bind(file: string, target: ControlTarget, log: LifecycleLog): Promise<ControlServer> {
    await removeIfStale(file);
    const server = net.createServer();
    const control = new ControlServer(file, server, target, log, false);
    await listenPrivately(server, file);
    return control;
  }

  /** Takes over the listening control socket a predecessor handed over at `fd`. */
  static adopt(fd: number, file: string, target: ControlTarget, log: LifecycleLog): ControlServer {
    const server = net.createServer();
    const control = new ControlServer(file, server, target, log, true);
    server.listen({ fd });
    return control;
  }

  /** The listening descriptor, to hand over; undefined before bind completes. */
  /** The listening handle itself, to send a copy over IPC (undefined when not listening). */
  get listeningHandle(): unknown {
    return (this.server as unknown as { _handle?: unknown })._handle ?? undefined;
  }

  /** Accepts again on `handle` (a copy of this very socket) after handOver(): a rollback. */
  resume(handle: unknown): void {
    if (!this.server.listening) this.server.listen(handle as net.ListenOptions);
  }

  get fd(): number | undefined {
    const fd = (this.server as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
    return typeof fd === 'number' && fd >= 0 ? fd : undefined;
  }

  /**
   * Stops accepting while the socket lives on in the next generation, so its path stays. Open
   * connections (the client waiting for a reload's outcome) stay open until answered or this process exits.
   */
  handOver(): void {
    if (!this.server.listening) return;
    closeKeepingUnixPath(() => void this.server.close(), this.server);
  }

  /** Stops accepting for good and removes the path. Open connections stay, as for handOver(). */
  close(): void {
    if (!this.server.listening) return;
    this.server.close();
    if (this.adopted) {
      try {
        if (fs.lstatSync(this.file).isSocket()) fs.rmSync(this.file, { force: true });
      } catch {
        // Already gone.
      }
    }
  }

  /** Final shutdown: also end the connections still open. */
  destroy(): void {
    this.close();
    for (const socket of this.connections) socket.destroy();
  }

  /**
   * Reads one request line: at most MAX_REQUEST_BYTES before its newline, within REQUEST_DEADLINE_MS
   * of connecting. A request refused for either is answered once, the connection is destroyed, and
   * nothing the client sends after (or sent along) is ever parsed or acted on.
   */
  private serve(socket: net.Socket): void {
    this.connections.add(socket);
    socket.on('error', () => undefined);
    const chunks: Buffer[] = [];
    let length = 0;
    let settled = false;
    const stopReading = (): void => {
      settled = true;
      clearTimeout(deadline);
      socket.off('data', onData);
      socket.off('end', onEnd);
    };
    const refuse = (why: string): void => {
      stopReading();
      this.log.debug('control', `control request refused: ${why}`);
      // Answered once; then the connection goes, whatever the client still has in flight.
      if (!socket.destroyed)
        socket.end(
          `${JSON.stringify({ type: 'result', ok: false, error: refused(why) } satisfies ControlEvent)}\n`,
          () => socket.destroy(),
        );
      // A client that does not read its answer must not hold the connection either.
      setTimeout(() => socket.destroy(), 1000).unref();
    };
    const deadline = setTimeout(
      () => refuse(`no complete request line within ${REQUEST_DEADLINE_MS / 1000} s of connecting`),
      REQUEST_DEADLINE_MS,
    );
    deadline.unref();
    socket.once('close', () => {
      stopReading();
      this.connections.delete(socket);
    });
    const onEnd = (): void => {
      // The client stopped sending before a whole line: nothing to answer.
      stopReading();
      socket.destroy();
    };
    const onData = (chunk: Buffer): void => {
      if (settled) return;
      const newline = chunk.indexOf(0x0a);
      // Counted in bytes, before anything is decoded or parsed: an oversized line that arrives whole in
      // one write is refused like one that trickles in.
      const lineBytes = length + (newline < 0 ? chunk.length : newline);
      if (lineBytes > MAX_REQUEST_BYTES) {
        refuse(`request too long: more than ${MAX_REQUEST_BYTES} bytes`);
        return;
      }
      if (newline < 0) {
        chunks.push(chunk);
        length += chunk.length;
        return;
      }
      chunks.push(chunk.subarray(0, newline));
      stopReading();
      let request: ControlRequest;
      try {
        request = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ControlRequest;
      } catch {
        refuse('request is not a JSON line');
        return;
      }
      void this.handle(socket, request);
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
  }

  private async handle(socket: net.Socket, request: ControlRequest): Promise<void> {
    const send = (event: ControlEvent): void => {
      if (!socket.destroyed) socket.write(`${JSON.stringify(event)}\n`);
    };
    switch (request?.command) {
      case 'status': {
        try {
          this.finish(socket, { type: 'result', ok: true, status: await this.target.status() });
        } catch (error) {
          this.finish(socket, { type: 'result', ok: false, error: errorToWire(error) });
        }
        return;
      }
      case 'reload': {
        this.log.info('control', 'reload requested on the control socket');
        // Every lifecycle step this process logs while the reload runs goes to the client as progress.
        const forward = (message: unknown): void => {
          const m = message as LifecycleMessage;
          send({ type: 'progress', event: m.event, message: m.message, pid: m.pid });
        };
        lifecycleChannel.subscribe(forward);
        try {
          const outcome = await this.target.reload();
          lifecycleChannel.unsubscribe(forward);
          send({ type: 'result', ok: true, reload: outcome });
          if (this.target.settle) {
            await this.target.settle(outcome, send);
            socket.end();
          }
          // In-place: the connection stays open until this (retiring) process exits, which is how
          // the client learns that the old generation is gone.
        } catch (error) {
          lifecycleChannel.unsubscribe(forward);
          this.finish(socket, { type: 'result', ok: false, error: errorToWire(error) });
        }
        return;
      }
      default:
        this.finish(socket, {
          type: 'result',
          ok: false,
          error: refused(
            `unknown command ${JSON.stringify((request as { command?: unknown })?.command)}: expected status or reload`,
          ),
        });
    }
  }

  private finish(socket: net.Socket, event: ControlEvent): void {
    if (!socket.destroyed) socket.end(`${JSON.stringify(event)}\n`);
  }
}

/** A request this server will not serve; every code on this wire comes from the table in errors.ts. */
function refused(message: string): WireError {
  return errorToWire(new BatonError('ERR_BATON_CONTROL_REQUEST', message));
}
