import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runUi, UI_FLAGS, uiOptions } from '../../src/commands/ui.js';
import { LocalApiUnavailable, UiPageMissing, UsageError } from '../../src/errors.js';
import { resolveFlags } from '../../src/flags/parse.js';
import { loadPage } from '../../src/web/assets.js';

const options = (argv: string[], env: Record<string, string> = {}) => uiOptions(resolveFlags(UI_FLAGS, argv, env).values);

describe('wgmesh ui: flags and environment', () => {
  test("the original's defaults and environment variables", () => {
    assert.deepEqual(options([]), { host: '127.0.0.1', port: 9095, token: undefined, socket: '/var/run/wgmesh.sock' });
    assert.deepEqual(options([], { WGMESH_HTTP_BIND_ADDR: '127.0.0.2', WGMESH_HTTP_BIND_PORT: '8080' }), { host: '127.0.0.2', port: 8080, token: undefined, socket: '/var/run/wgmesh.sock' });
    assert.equal(options(['-http-bind-port', '9999'], { WGMESH_HTTP_BIND_PORT: '8080' }).port, 9999, 'flag over env');
    assert.equal(options(['-http-bind-addr', '::1']).host, '::1');
  });

  test('a bind beyond loopback without a token is refused with a message that says how', () => {
    for (const [argv, env] of [[['-http-bind-addr', '0.0.0.0'], {}], [[], { WGMESH_HTTP_BIND_ADDR: '192.0.2.10' }], [['-http-bind-addr', '::'], {}]] as const) {
      assert.throws(() => options([...argv], env), (err: unknown) =>
        err instanceof UsageError && /is not a loopback address/.test(err.message) && /-http-token TOKEN/.test(err.message) && /WGMESH_HTTP_TOKEN/.test(err.message) && /127\.0\.0\.1/.test(err.message));
    }
    assert.deepEqual(options(['-http-bind-addr', '0.0.0.0', '-http-token', 's3cret']).token, 's3cret');
    assert.equal(options(['-http-bind-addr', '0.0.0.0'], { WGMESH_HTTP_TOKEN: 't' }).host, '0.0.0.0');
  });

  test('nonsense ports are refused', () => {
    assert.throws(() => options(['-http-bind-port', '70000']), UsageError);
    assert.throws(() => options(['-http-bind-port', 'x']), UsageError);
    assert.throws(() => options(['-http-bind-addr', ' ']), UsageError);
  });

  test('run: refused before anything starts (exit status 2 through UsageError); no node: says to start one', async () => {
    await assert.rejects(runUi(['-http-bind-addr', '0.0.0.0'], {}), (err: unknown) => err instanceof UsageError && /-http-token/.test(err.message));
    const dir = mkdtempSync(join(tmpdir(), 'wgmesh-ui-'));
    try {
      await assert.rejects(runUi(['-socket', join(dir, 'none.sock')], {}), (err: unknown) =>
        (err instanceof LocalApiUnavailable && /does not exist\. Start one with `wgmesh bootstrap` or `wgmesh join`/.test(err.message)) ||
        // Where the page was never built, that is said first.
        err instanceof UiPageMissing);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the page's files: a missing build says to run make build", () => {
    assert.throws(() => loadPage(['/nonexistent/ui/']), (err: unknown) => err instanceof UiPageMissing && /run `make build`/.test(err.message));
  });
});
