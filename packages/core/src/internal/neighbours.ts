import net from 'node:net';

/**
 * What else in the app touches what baton owns: other listeners for the signals baton handles, and
 * servers listening outside baton. Both break reloads in ways the app's author rarely suspects, so
 * baton names them, with the fix, at ready and at each reload.
 */

/** Servers that listen on a TCP port or a unix path without going through baton's listen(). */
export function unmanagedServers(handles: readonly unknown[], managed: ReadonlySet<net.Server>): string[] {
  const found: string[] = [];
  for (const handle of handles) {
    if (!(handle instanceof net.Server) || managed.has(handle) || !handle.listening) continue;
    // Asked for port 0 (net keeps what was asked in _connectionKey, `4:127.0.0.1:0`): the next
    // generation gets a port of its own, so it cannot collide.
    const asked = (handle as unknown as { _connectionKey?: unknown })._connectionKey;
    if (typeof asked === 'string' && asked.endsWith(':0')) continue;
    const address = handle.address();
    if (address === null) continue;
    found.push(
      typeof address === 'string'
        ? `unix:${address}`
        : `${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`,
    );
  }
  return found;
}

export function sideServerWarning(addresses: readonly string[]): string {
  const list = addresses.join(', ');
  return (
    `${list} ${addresses.length === 1 ? 'is' : 'are'} bound with a plain server.listen(), outside baton: the next generation ` +
    'cannot bind it while this one holds it, so every reload fails with EADDRINUSE. Start that server with ' +
    "listen(server, ...) from '@baton/core' so its socket is handed over too"
  );
}

export function signalCollisionWarning(signal: string, others: number): string {
  const listeners = `${others} other ${signal} listener${others === 1 ? ' is' : 's are'} installed besides baton's`;
  if (signal === 'SIGHUP') {
    return (
      `${listeners}: ${others === 1 ? 'it runs' : 'they run'} at every reload, and one that closes the server or exits loses requests. ` +
      'NestJS: leave enableShutdownHooks() out and call app.close() in onExit(); lightship and others: leave SIGHUP out of ' +
      'their signal list; or configure({ handleSignals: false }) and reload with `baton reload --control`'
    );
  }
  return (
    `${listeners}: one that closes the server or exits cuts baton's polite drain short (and one that raises ${signal} ` +
    'again makes baton close every connection at once). Put that clean-up in onExit() instead: NestJS without ' +
    'enableShutdownHooks(), terminus with signals: [] , lightship with signals: []'
  );
}

/** For a successor's uncaught EADDRINUSE: which address, and why it is taken. */
export function addressInUseHint(error: unknown, predecessorPid: number): string | undefined {
  const e = error as NodeJS.ErrnoException & { address?: string; port?: number };
  if (e?.code !== 'EADDRINUSE') return undefined;
  const where = e.port !== undefined ? `${e.address}:${e.port}` : (e.address ?? 'an address');
  return (
    `listen EADDRINUSE ${where}: pid ${predecessorPid}, the generation this one replaces, still holds it because ` +
    "it was bound with a plain server.listen(); start that server with listen(server, ...) from '@baton/core' " +
    'so it is handed over at a reload'
  );
}
