#!/usr/bin/env node
// The seed's story, live: v1.0 serves busy keep-alive clients; the operator drops build 1.1 in place and
// calls /upgrade; later a deploy script runs `kill -HUP $(cat s.pid)` for build 1.2. Every request is
// counted; the demo exits non-zero if any client saw an error.
//
//   node examples/demo.js [--framework express|koa] [--clients 16] [--seconds 8]
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { Pool } = require('undici');

const { values: args } = parseArgs({
  // `pnpm demo -- --framework koa` passes the `--` on; it means nothing here.
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    framework: { type: 'string', default: 'express' },
    clients: { type: 'string', default: '16' },
    seconds: { type: 'string', default: '8' },
  },
});
if (!['express', 'koa'].includes(args.framework)) fail(`--framework ${args.framework}: expected express or koa`);
const clients = Number(args.clients);
const seconds = Number(args.seconds);
if (!Number.isInteger(clients) || clients < 1 || clients > 200) fail(`--clients ${args.clients}: expected 1 to 200`);
if (!(seconds >= 4 && seconds <= 120)) fail(`--seconds ${args.seconds}: expected 4 to 120`);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-demo-'));
const versionFile = path.join(dir, 'version.json');
const pidFile = path.join(dir, 's.pid');
const token = 'demo-token';
const pidsSeen = new Set();

function fail(message) {
  console.error(`demo: ${message}`);
  process.exit(2);
}
function step(message) {
  console.log(`\n==> ${message}`);
}
function dropBuild(version) {
  fs.writeFileSync(versionFile, JSON.stringify({ version }));
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const readPid = () => Number(fs.readFileSync(pidFile, 'utf8').trim());

async function waitFor(what, probe, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** Keep-alive load: undici connections plus Node http.Agent sockets, counting every outcome. */
function startLoad(port) {
  const stats = { requests: 0, failures: [], versions: new Map() };
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: Math.ceil(clients / 2) });
  const agent = new http.Agent({ keepAlive: true, maxSockets: Math.floor(clients / 2) || 1 });
  let running = true;

  const record = (body) => {
    stats.requests += 1;
    const [version, pid] = body.trim().split(' pid=');
    stats.versions.set(version, (stats.versions.get(version) ?? 0) + 1);
    pidsSeen.add(Number(pid));
  };
  const viaUndici = async () => {
    const { body } = await pool.request({ path: '/version', method: 'GET' });
    record(await body.text());
  };
  const viaAgent = () =>
    new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/version', agent }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk) => (body += chunk));
          res.on('end', () => resolve(record(body)));
          res.on('error', reject);
        })
        .on('error', reject);
    });
  const loops = Array.from({ length: clients }, async (_, i) => {
    const send = i % 2 === 0 ? viaUndici : viaAgent;
    while (running) {
      try {
        await send();
      } catch (error) {
        stats.failures.push(`${i % 2 === 0 ? 'undici' : 'http.Agent'}: ${error.code ?? error.message}`);
      }
      // A little think time, so idle keep-alive sockets exist when the reload happens.
      await sleep(5 + (i % 7) * 10);
    }
  });
  return {
    stats,
    async stop() {
      running = false;
      await Promise.all(loops);
      await pool.close();
      agent.destroy();
    },
  };
}

function get(port, pathname, options = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: pathname, agent: false, ...options }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode, body: body.trim() }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function main() {
  const app = path.join(__dirname, args.framework, 'server.js');
  step(`starting the seed's service v1.0 (${args.framework}): node ${path.relative(process.cwd(), app)}`);
  dropBuild('1.0');
  let output = '';
  const server = spawn(process.execPath, [app], {
    env: { ...process.env, PORT: '0', VERSION_FILE: versionFile, BATON_PID_FILE: pidFile, UPGRADE_TOKEN: token },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  server.stdout.on('data', (chunk) => {
    output += chunk;
    process.stdout.write(`    ${chunk}`);
  });
  const port = Number(await waitFor('the service to listen', () => /127\.0\.0\.1:(\d+)/.exec(output)?.[1]));
  const firstPid = server.pid;
  const cleanup = () => {
    for (const pid of pidsSeen) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone: nothing to clean up.
      }
    }
  };
  process.on('exit', cleanup);
  pidsSeen.add(firstPid);

  step(`${clients} keep-alive clients hammer /version on port ${port} (undici and http.Agent)`);
  const load = startLoad(port);
  await sleep(seconds * 250);

  step('dropping build 1.1 in place, then: curl -X POST -H "authorization: Bearer …" /upgrade');
  dropBuild('1.1');
  const upgradeStarted = Date.now();
  const upgrade = await get(port, '/upgrade', { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  const upgradeMs = Date.now() - upgradeStarted;
  console.log(`    /upgrade answered ${upgrade.status}: ${upgrade.body} (${upgradeMs} ms)`);
  const secondPid = await waitFor(
    'the pid file to change',
    () => fs.existsSync(pidFile) && readPid() !== firstPid && readPid(),
  );
  pidsSeen.add(secondPid);
  console.log(`    /version now says: ${(await get(port, '/version')).body}`);
  console.log(`    s.pid now names: ${secondPid}`);
  await sleep(seconds * 250);

  step('dropping build 1.2 in place, then the deploy script: kill -HUP $(cat s.pid)');
  dropBuild('1.2');
  const hupStarted = Date.now();
  process.kill(readPid(), 'SIGHUP');
  const thirdPid = await waitFor('the pid file to change', () => readPid() !== secondPid && readPid());
  const hupMs = Date.now() - hupStarted;
  pidsSeen.add(thirdPid);
  console.log(
    `    pid ${secondPid} -> ${thirdPid} in ${hupMs} ms; /version now says: ${(await get(port, '/version')).body}`,
  );
  await sleep(seconds * 500);

  await load.stop();
  step('done: SIGTERM to the serving generation (drains politely, exits 0)');
  process.kill(thirdPid, 'SIGTERM');
  await waitFor('the last generation to exit', () => {
    try {
      process.kill(thirdPid, 0);
      return false;
    } catch {
      return true;
    }
  });

  const { stats } = load;
  const versions = [...stats.versions].map(([v, n]) => `v${v}: ${n}`).join(', ');
  console.log('\nsummary');
  console.log(`  requests:        ${stats.requests}`);
  console.log(
    `  failed requests: ${stats.failures.length}${stats.failures.length ? ` (${[...new Set(stats.failures)].join('; ')})` : ''}`,
  );
  console.log(`  versions seen:   ${versions}`);
  console.log(`  pids seen:       ${[...pidsSeen].join(' -> ')}`);
  console.log(`  /upgrade answered in ${upgradeMs} ms; kill -HUP to new pid file in ${hupMs} ms`);
  console.log(`  upgrade response: ${upgrade.status} ${upgrade.body}`);
  const ok = stats.failures.length === 0 && upgrade.status === 200 && stats.versions.has('1.2');
  console.log(ok ? '\nzero-downtime: every request answered across both reloads' : '\nFAILED: see above');
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(ok ? 0 : 1);
}

main().catch((error) => {
  console.error(`demo failed: ${error.stack ?? error}`);
  process.exit(1);
});
