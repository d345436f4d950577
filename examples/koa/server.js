// The seed's service on Koa: /version says which build runs, /upgrade reloads onto the build on disk.
// Ops: `kill -HUP $(cat s.pid)` does the same as /upgrade.
const { createHash, timingSafeEqual } = require('node:crypto');
const path = require('node:path');
const fs = require('node:fs');
const Koa = require('koa');
const { listen, reload, configure } = require('@baton/koa');

// Read at start-up, so each generation reports the build it started from.
const versionFile = process.env.VERSION_FILE ?? path.join(__dirname, 'version.json');
const { version: Version } = JSON.parse(fs.readFileSync(versionFile, 'utf8'));
const port = Number(process.env.PORT ?? 9527);
// An open restart endpoint lets anyone restart the service: /upgrade needs this token.
const token = process.env.UPGRADE_TOKEN;
if (!token) throw new Error('set UPGRADE_TOKEN: /upgrade requires it');
// Compared in constant time: `!==` stops at the first differing byte, and the time that takes tells a
// caller how much of a guess was right. Digests first, so both sides have the same length whatever was sent.
const sha256 = (text) => createHash('sha256').update(text).digest();
const expected = sha256(`Bearer ${token}`);
const authorized = (header) => timingSafeEqual(sha256(String(header ?? '')), expected);

configure({ pidFile: process.env.BATON_PID_FILE ?? path.join(__dirname, 's.pid') });

const app = new Koa();
app.use(async (ctx) => {
  if (ctx.method === 'GET' && ctx.path === '/version') {
    ctx.body = `${Version} pid=${process.pid}\n`;
  } else if (ctx.method === 'POST' && ctx.path === '/upgrade') {
    if (!authorized(ctx.get('authorization'))) {
      ctx.status = 401;
      ctx.body = 'token required\n';
      return;
    }
    try {
      const next = await reload();
      ctx.body = `restart ok: ${next.previousPid} -> ${next.pid} in ${next.readyMs} ms\n`;
    } catch (error) {
      ctx.status = 500;
      ctx.body = `restart failed (${error.code}): ${error.message}\n`;
    }
  }
});

const server = listen(app, port, '127.0.0.1', () => {
  console.log(`v${Version} listening on http://127.0.0.1:${server.address().port} (pid ${process.pid})`);
});
