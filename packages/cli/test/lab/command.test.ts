import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSignal, splitLeadingFlags } from '../../src/commands/lab.js';
import { UsageError } from '../../src/flags/parse.js';
import type { FlagSpec } from '../../src/flags/parse.js';

const specs: FlagSpec[] = [{ name: 'name', type: 'string', help: '' }];

describe('lab exec argument splitting', () => {
  test('the lab flags before the host are the lab own; the rest is the command', () => {
    assert.deepEqual(splitLeadingFlags(['-name', 'x', 'h2', 'ping', '-c', '1', '192.0.2.1'], specs), { flags: ['-name', 'x'], rest: ['h2', 'ping', '-c', '1', '192.0.2.1'] });
    assert.deepEqual(splitLeadingFlags(['--name=x', 'h1', 'wgmesh', 'info', '-name', 'y'], specs), { flags: ['--name=x'], rest: ['h1', 'wgmesh', 'info', '-name', 'y'] });
  });

  test('an unknown flag ends the lab flags; -- ends them explicitly', () => {
    assert.deepEqual(splitLeadingFlags(['-json'], specs), { flags: [], rest: ['-json'] });
    assert.deepEqual(splitLeadingFlags(['-name', 'x', '--', '-weird-host'], specs), { flags: ['-name', 'x'], rest: ['-weird-host'] });
  });
});

describe('lab kill -signal', () => {
  test('takes names with or without SIG, any case, and the common numbers', () => {
    assert.equal(parseSignal('KILL'), 'SIGKILL');
    assert.equal(parseSignal('sigterm'), 'SIGTERM');
    assert.equal(parseSignal('9'), 'SIGKILL');
    assert.equal(parseSignal('15'), 'SIGTERM');
    assert.throws(() => parseSignal('BOGUS'), UsageError);
  });
});
