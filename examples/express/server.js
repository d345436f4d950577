// The seed's service on Express: /version says which build runs, /upgrade reloads onto the build on disk.
// Ops: `kill -HUP $(cat s.pid)` does the same as /upgrade.
const { createHash, timingSafeEqual } = require('node:crypto');
const path = require('node:path');
const fs = require('node:fs');
const express = require('express');
const { listen, reload, configure } = require('@baton/express');

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

const app = express();
app.get('/version', (req, res) => res.send(`${Version} pid=${process.pid}\n`));
app.post('/upgrade', async (req, res) => {
  if (!authorized(req.get('authorization'))) return res.status(401).send('token required\n');
  try {
    const next = await reload();
    res.send(`restart ok: ${next.previousPid} -> ${next.pid} in ${next.readyMs} ms\n`);
  } catch (error) {
    res.status(500).send(`restart failed (${error.code}): ${error.message}\n`);
  }
});

const server = listen(app, port, '127.0.0.1', () => {
  console.log(`v${Version} listening on http://127.0.0.1:${server.address().port} (pid ${process.pid})`);
});
