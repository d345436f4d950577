// A client of baton's control socket (JSON lines: one request line; `progress` lines, one `result`
// line, then `drained` lines; see packages/core/src/wire/control.ts). The bench speaks it itself, as
// `baton reload` and `baton status` do, to know when a supervised reload is over without starting a CLI
// process per reload on a 2-core machine.
import net from 'node:net';

/**
 * Sends `{ command }` and resolves with the `result` event (`{ ok, reload | status | error }`), or
 * rejects when the socket fails or no result comes within timeoutMs. The connection is closed once the
 * result is in: later `drained` events are not waited for.
 */
export function controlRequest(socketPath, command, timeoutMs) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let buffered = '';
    let done = false;
    const finish = (error, result) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(result);
    };
    const timer = setTimeout(
      () => finish(new Error(`no result from ${socketPath} within ${timeoutMs} ms (${command})`)),
      timeoutMs,
    );
    socket.once('connect', () => socket.write(`${JSON.stringify({ command })}\n`));
    socket.on('error', (error) => finish(error));
    socket.once('close', () => finish(new Error(`${socketPath} closed the connection before a result (${command})`)));
    socket.on('data', (chunk) => {
      buffered += chunk.toString('utf8');
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        let event;
        try {
          event = JSON.parse(line);
        } catch {
          continue;
        }
        if (event.type === 'result') finish(undefined, event);
      }
    });
  });
}
