// autocannon, the tool people benchmark Node servers with: fixed overall rate of 2 ms requests over
// kept-alive connections. Its own semantics: a failed connection attempt counts as a failed request,
// and it reconnects at once.
import autocannon from 'autocannon';
import { errorCode, now } from '@baton/core/verify';
import { ROUTE_INDEX } from './mix.mjs';

export function startAutocannon({ port, connections, rate, maxSeconds }, recorder) {
  const route = ROUTE_INDEX.work;
  let finished;
  const done = new Promise((resolve) => (finished = resolve));
  const instance = autocannon(
    { url: `http://127.0.0.1:${port}/work`, connections, overallRate: rate, duration: maxSeconds, timeout: 15 },
    () => finished(),
  );
  instance.on('response', (_client, statusCode, _bytes, responseTime) => {
    const t = now();
    recorder.add('autocannon', route, t - responseTime, responseTime, statusCode === 200 ? 'ok' : `HTTP_${statusCode}`);
  });
  instance.on('reqError', (error) => {
    recorder.add('autocannon', route, now(), NaN, errorCode(error));
  });
  return async () => {
    instance.stop();
    await done;
  };
}
