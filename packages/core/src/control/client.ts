import net from 'node:net';
import type { ControlEvent, ControlRequest } from '../wire/control';

export class ControlClientError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

export interface ControlExchange {
  /** Resolves with the `result` event. */
  result: Promise<Extract<ControlEvent, { type: 'result' }>>;
  /** Resolves when the server closes the connection (or the wait is abandoned). */
  closed: Promise<void>;
  close(): void;
}

/** Why a connect failed, in words an operator can act on. */
function describeConnectError(file: string, error: NodeJS.ErrnoException): ControlClientError {
  switch (error.code) {
    case 'ENOENT':
      return new ControlClientError(
        `control socket ${file} does not exist: is the process running with --control ${file} (or BATON_CONTROL)?`,
        'ENOENT',
      );
    case 'ECONNREFUSED':
      return new ControlClientError(
        `nobody is listening on control socket ${file} (a stale file from a process that died?)`,
        'ECONNREFUSED',
      );
    case 'EACCES':
    case 'EPERM':
      return new ControlClientError(
        `permission denied on control socket ${file}: it only accepts its owner (mode 0600); run as that user`,
        error.code,
      );
    default:
      return new ControlClientError(
        `cannot connect to control socket ${file}: ${error.message}`,
        error.code ?? 'ECONNECT',
      );
  }
}

/** Sends one request and streams the answer's events to `onEvent`. */
export function sendControlRequest(
  file: string,
  request: ControlRequest,
  onEvent: (event: ControlEvent) => void = () => undefined,
): ControlExchange {
  const socket = net.connect(file);
  let resolveResult!: (event: Extract<ControlEvent, { type: 'result' }>) => void;
  let rejectResult!: (error: Error) => void;
  const result = new Promise<Extract<ControlEvent, { type: 'result' }>>((resolve, reject) => {
    resolveResult = resolve;
    rejectResult = reject;
  });
  // Handled by whoever awaits it; a rejection nobody awaits must not crash the CLI.
  result.catch(() => undefined);
  let connected = false;
  let gotResult = false;
  const closed = new Promise<void>((resolve) => {
    socket.once('close', () => {
      if (!gotResult)
        rejectResult(
          new ControlClientError(`control socket ${file} closed the connection before answering`, 'ECLOSED'),
        );
      resolve();
    });
  });
  socket.once('connect', () => {
    connected = true;
    socket.write(`${JSON.stringify(request)}\n`);
  });
  socket.on('error', (error: NodeJS.ErrnoException) => {
    if (!connected) rejectResult(describeConnectError(file, error));
  });
  let buffered = '';
  socket.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      let event: ControlEvent;
      try {
        event = JSON.parse(line) as ControlEvent;
      } catch {
        continue;
      }
      onEvent(event);
      if (event.type === 'result') {
        gotResult = true;
        resolveResult(event);
      }
    }
  });
  return { result, closed, close: () => socket.destroy() };
}
