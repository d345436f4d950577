// Issue 8, fault 4: HTTPS connections still in their TLS handshake when the old generation starts to
// drain. Its tracker followed 'secureConnection' only, so it counted none of them, "drained 0
// connections" at once and exited under them (20 of 20 dropped). Now it counts each TCP socket until it
// becomes a TLS socket, waits for it, and tells its first request to close.
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { FIXTURES, killAll, startServer, tempDir, waitForPort } from './helpers/processes';
import { DEPLOYED_ENV, exitOf, sleep, waitForOutput } from './helpers/service';
import { HAS_OPENSSL, makeCertificate } from './helpers/tls';

const APP = path.join(FIXTURES, 'drain-faults-app.js');
const CONNECTIONS = 20;

afterEach(killAll);

/** The fixture reads its certificate from TLS_KEY and TLS_CERT. */
function certificateEnv(dir: string): { TLS_KEY: string; TLS_CERT: string } {
  const { keyFile, certFile } = makeCertificate(dir);
  return { TLS_KEY: keyFile, TLS_CERT: certFile };
}

/** Completes a TLS handshake on a TCP connection opened earlier, sends one request, reads until close. */
function requestOver(
  socket: net.Socket,
  pathname: string,
): Promise<{ status: number; connection?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const secure = tls.connect({ socket, rejectUnauthorized: false });
    let text = '';
    secure.setEncoding('latin1');
    secure.on('secureConnect', () => secure.write(`GET ${pathname} HTTP/1.1\r\nHost: x\r\n\r\n`));
    secure.on('data', (chunk: string) => (text += chunk));
    secure.on('error', (error) => reject(new Error(`${pathname}: ${error.message}; received ${JSON.stringify(text)}`)));
    secure.on('close', () => {
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return reject(new Error(`${pathname}: closed without a response; received ${JSON.stringify(text)}`));
      const head = text.slice(0, end);
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]),
        connection: /\r\nconnection: *([^\r]*)/i.exec(head)?.[1],
        body: text.slice(end + 4),
      });
    });
    secure.setTimeout(20_000, () => secure.destroy(new Error('timed out')));
  });
}

(HAS_OPENSSL ? test : test.skip)(
  `${CONNECTIONS} connections still in their TLS handshake when a reload starts are served by the old generation, with Connection: close; it then exits 0`,
  async () => {
    const server = startServer(APP, {
      ...DEPLOYED_ENV,
      BATON_SETTLE_MS: '0',
      PROTOCOL: 'https',
      ...certificateEnv(tempDir()),
    });
    const port = await waitForPort(server);
    // TCP connected, no ClientHello yet: the old generation holds them, none is a TLS socket yet.
    const connections = await Promise.all(
      Array.from(
        { length: CONNECTIONS },
        () =>
          new Promise<net.Socket>((resolve, reject) => {
            const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
            socket.once('error', reject);
          }),
      ),
    );
    // Accepted by the old generation (a connection still in the backlog would go to the successor).
    await sleep(300);

    process.kill(server.pid, 'SIGHUP');
    await waitForOutput(server, new RegExp(`^draining ${server.pid}$`, 'm'));
    // The old tracker saw nothing to wait for: by now its process had exited under these connections.
    await sleep(500);

    const replies = await Promise.all(connections.map((socket, i) => requestOver(socket, `/late-${i}`)));
    for (const [i, reply] of replies.entries()) {
      expect(reply).toEqual({ status: 200, connection: 'close', body: `/late-${i} pid=${server.pid}` });
    }
    expect(await exitOf(server)).toEqual({ code: 0, signal: null });
    expect(server.output()).not.toMatch(/by force/);
  },
);
