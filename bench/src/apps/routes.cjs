// The application under test, the same for every strategy: an Express app whose requests take 2 ms
// (an awaited call, like a database round trip), with slow requests, uploads and streamed responses.
const express = require('express');
const { build } = require('./build.cjs');

const STREAM_CHUNKS = 8;
const STREAM_CHUNK_BYTES = 8 * 1024;
const STREAM_INTERVAL_MS = 10;
const chunk = Buffer.alloc(STREAM_CHUNK_BYTES, 'x');

function createApp() {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use((req, res, next) => {
    res.setHeader('x-pid', String(process.pid));
    if (build !== undefined) res.setHeader('x-build', build);
    next();
  });
  app.get('/work', (req, res) => {
    setTimeout(() => res.send('ok\n'), 2);
  });
  app.get('/slow', (req, res) => {
    const ms = Math.min(Number(req.query.ms) || 0, 10_000);
    setTimeout(() => res.send('slow ok\n'), ms);
  });
  app.post('/upload', (req, res) => {
    let bytes = 0;
    req.on('data', (data) => (bytes += data.length));
    req.on('end', () => res.send(`${bytes}\n`));
  });
  app.get('/stream', (req, res) => {
    res.setHeader('content-type', 'application/octet-stream');
    let sent = 0;
    const timer = setInterval(() => {
      res.write(chunk);
      if (++sent === STREAM_CHUNKS) {
        clearInterval(timer);
        res.end();
      }
    }, STREAM_INTERVAL_MS);
    res.on('close', () => clearInterval(timer));
  });
  return app;
}

module.exports = { createApp, STREAM_BYTES: STREAM_CHUNKS * STREAM_CHUNK_BYTES };
