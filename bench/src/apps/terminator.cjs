// The app with http-terminator: on SIGTERM, terminate() (its defaults), then exit. The bench starts
// the next process once this one has exited.
const { record } = require('./events.cjs');
const { createHttpTerminator } = require('http-terminator');
const { createApp } = require('./routes.cjs');

const port = Number(process.env.PORT);
const server = createApp().listen(port, '127.0.0.1', () => record('listening'));
// Created right away: it only tracks connections made after it exists.
const terminator = createHttpTerminator({ server });

process.once('SIGTERM', async () => {
  record('stopping', { signal: 'SIGTERM' });
  await terminator.terminate();
  process.exit(0);
});
