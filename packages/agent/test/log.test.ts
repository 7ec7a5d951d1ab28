import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { createLogger, type LoggerOptions } from '../src/log.js';

const FORGED = '\n2026-01-01T00:00:00.000Z info node joined node=evil';
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/;

/** A logger writing into a string; `lines()` waits for winston to flush, then splits its output. */
function capture(options: LoggerOptions = {}) {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  const logger = createLogger({ ...options, stream });
  return {
    logger,
    async lines(): Promise<string[]> {
      await new Promise((r) => setImmediate(r));
      assert.ok(text.endsWith('\n'), 'every line is ended');
      return text.slice(0, -1).split('\n');
    },
  };
}

test('a forged line, ESC and NUL in a message or a field stay inside one escaped log line', async () => {
  const { logger, lines } = capture();

  logger.child({ component: 'bootstrap' }).warn(`join refused for evil${FORGED}`, { node: `evil${FORGED}`, err: 'bad\u001b[2Jname\u0000!', tag: 'a\u0085b\u2028c\u007f' });

  const [line, ...more] = await lines();
  assert.deepEqual(more, [], 'exactly one line');
  assert.doesNotMatch(line!, RAW_CONTROL, 'no raw control bytes');
  assert.match(line!, /^\S+Z warn \[bootstrap\] join refused for evil\\n2026-01-01T00:00:00\.000Z info node joined node=evil node=/);
  assert.ok(line!.includes(' node="evil\\n2026-01-01T00:00:00.000Z info node joined node=evil" '), `the field is one quoted value: ${line}`);
  assert.ok(line!.includes(' err="bad\\u001b[2Jname\\u0000!" '), line);
  assert.ok(line!.endsWith(' tag="a\\u0085b\\u2028c\\u007f"'), line);
});

test('field values: plain tokens stay bare; spaces, =, quotes, backslashes and empty strings are JSON-quoted', async () => {
  const { logger, lines } = capture();

  logger.info('wireguard reconciled', { node: 'alpha', meshIp: '198.18.0.2', revision: 7, full: true, err: 'connect ECONNREFUSED 1.2.3.4:5', note: 'a=b', q: 'say "hi"', path: 'C:\\x', empty: '', tags: { role: 'web server' }, ids: [1, 2] });

  const [line] = await lines();
  assert.match(line!, /^\S+Z info wireguard reconciled node=alpha meshIp=198\.18\.0\.2 revision=7 full=true /);
  assert.ok(line!.endsWith(' err="connect ECONNREFUSED 1.2.3.4:5" note="a=b" q="say \\"hi\\"" path="C:\\\\x" empty="" tags="{\\"role\\":\\"web server\\"}" ids=[1,2]'), line);
});

test('the log parsers of the tests and the bench still read the lines', async () => {
  const { logger, lines } = capture();
  logger.child({ component: 'agent' }).info('joined the mesh', { node: 'h2', meshIp: '198.18.0.3', revision: 4, peers: 2 });
  logger.child({ component: 'bootstrap:liveness' }).warn('node silent for 15.2 s: failed', { node: 'h4', silentMs: 15200 });

  const [joined, failed] = await lines();
  // test/helpers/lab.ts joinedIpFromLog, bench/data-plane.ts parseLogMarks, test/e2e/failure.test.ts.
  assert.equal(/joined the mesh\b.*?\bmeshIp=(\S+)/.exec(joined!)?.[1], '198.18.0.3');
  assert.equal(/^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) \S+ (?:\[[^\]]*\] )?(.*)$/.exec(joined!)?.[2]?.startsWith('joined the mesh'), true);
  assert.ok(/: failed\b/.test(failed!) && failed!.includes('node=h4'), failed);
});

test('JSON lines stay JSON, one per entry', async () => {
  const { logger, lines } = capture({ json: true });
  logger.info(`hello${FORGED}`, { node: `evil${FORGED}` });
  const [line, ...more] = await lines();
  assert.deepEqual(more, []);
  assert.equal(JSON.parse(line!).node, `evil${FORGED}`);
});
