// A small service for the container example: the same listen() call works plainly, in-place and
// under `baton run` (the image's entrypoint). /version says which build and which worker answers.
const express = require('express');
const { health, listen } = require('@baton/express');

const version = process.env.APP_VERSION ?? '1.0';
const app = express();
app.get('/version', (req, res) => res.send(`${version} pid=${process.pid}\n`));
// /ready and /live for a plain or in-place run; under `baton run --health` the supervisor answers them.
app.use(health());

const server = listen(app, Number(process.env.PORT ?? 8080), process.env.HOST ?? '0.0.0.0', () => {
  console.log(`listening ${server.address().port}`);
});
