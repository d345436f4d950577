// nginx in front of the app, as many deployments run it: upstream keep-alive (`keepalive 32`, HTTP/1.1,
// `Connection ""`), so the app's clients are nginx's pooled upstream connections. Started as a child
// process in the foreground (`daemon off`) with its own prefix, config and logs in a temp folder, on
// 127.0.0.1 and a free port; stopped by pid. nginx may not be installed: nginxBinary() says so.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { now, sleep } from '@baton/core/verify';
import { freePort, isAlive, killPids, signal, waitGone } from './procs.mjs';

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5000;
/** Where distributions put nginx when /usr/sbin is not on the PATH (it often is not for non-root users). */
const PLACES = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx', '/usr/bin/nginx'];

/** The nginx executable, or undefined when nginx is not installed. */
export function nginxBinary() {
  const onPath = (process.env.PATH ?? '').split(path.delimiter).map((dir) => path.join(dir, 'nginx'));
  return [...onPath, ...PLACES].find((file) => {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return fs.statSync(file).isFile();
    } catch {
      return false;
    }
  });
}

function config({ prefix, port, upstreamPort }) {
  // No temp files: uploads (256 KB) stay in memory and responses are never buffered to disk, so the
  // workers (which drop to `nobody` when nginx runs as root) need no writable folder.
  const temp = (name) => path.join(prefix, `${name}-temp`);
  return `daemon off;
master_process on;
worker_processes 1;
pid ${path.join(prefix, 'nginx.pid')};
error_log ${path.join(prefix, 'error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${temp('body')};
  proxy_temp_path ${temp('proxy')};
  fastcgi_temp_path ${temp('fastcgi')};
  uwsgi_temp_path ${temp('uwsgi')};
  scgi_temp_path ${temp('scgi')};
  client_max_body_size 1m;
  client_body_buffer_size 1m;
  proxy_max_temp_file_size 0;
  upstream app {
    server 127.0.0.1:${upstreamPort};
    keepalive 32;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

function accepts(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** nginx's worker processes: the children of its master. */
function childrenOf(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Starts nginx in front of 127.0.0.1:upstreamPort, in `dir`; resolves once it accepts connections with
 * { pid, workerPids, port, prefix }. Its output goes to `log`.
 */
export async function startNginx({ binary, dir, upstreamPort, log }) {
  const prefix = path.join(dir, 'nginx');
  fs.mkdirSync(prefix, { recursive: true });
  const port = await freePort();
  const conf = path.join(prefix, 'nginx.conf');
  fs.writeFileSync(conf, config({ prefix, port, upstreamPort }));
  const fd = fs.openSync(log, 'a');
  // -e: the error log before the config is read (otherwise nginx opens its compiled-in default first).
  const child = spawn(binary, ['-p', prefix, '-c', conf, '-e', path.join(prefix, 'error.log')], {
    stdio: ['ignore', fd, fd],
  });
  fs.closeSync(fd);
  child.on('error', () => {});
  const proxy = { pid: child.pid, workerPids: [], port, prefix, child };
  const deadline = now() + START_TIMEOUT_MS;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || now() > deadline) {
      await stopNginx(proxy);
      const errors = fs.existsSync(path.join(prefix, 'error.log'))
        ? fs.readFileSync(path.join(prefix, 'error.log'), 'utf8').trim().split('\n').at(-1)
        : '';
      throw new Error(`nginx did not start (exit ${child.exitCode}): ${errors}`);
    }
    await sleep(20);
  }
  proxy.workerPids = childrenOf(proxy.pid);
  return proxy;
}

/** Fast shutdown (SIGTERM), then SIGKILL by pid for the master and its workers if they linger. */
export async function stopNginx(proxy) {
  const workers = [...new Set([...proxy.workerPids, ...childrenOf(proxy.pid)])];
  if (isAlive(proxy.pid)) {
    signal(proxy.pid, 'SIGTERM');
    await waitGone(proxy.pid, STOP_TIMEOUT_MS);
  }
  await killPids([proxy.pid, ...workers].filter(isAlive));
}
