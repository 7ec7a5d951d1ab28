/** The agent's named errors: one class per failure, named after it, and one mapping to gRPC codes for the local API. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import * as errors from '../src/errors.js';
import { statusFor } from '../src/localapi/server.js';

test('every error class is an AgentError whose name is its class name', () => {
  const classes = Object.entries(errors).filter(([, v]) => typeof v === 'function') as [string, new (...args: never[]) => Error][];
  assert.ok(classes.length >= 20, `${classes.length} classes`);
  // Constructors take different arguments: the chain is checked for all, the name on instances of a few.
  for (const [name, Class] of classes) assert.ok(Class.prototype instanceof errors.AgentError || Class === errors.AgentError, `${name} is an AgentError`);
  assert.equal(new errors.NotRoot().name, 'NotRoot');
  assert.equal(new errors.KeyFileInvalid('/k').name, 'KeyFileInvalid');
  assert.equal(new errors.ControlCallError(grpc.status.UNAVAILABLE, 'down', 'Join').name, 'ControlCallError');
  assert.equal(new errors.WireGuardUnavailable('x').name, 'WireGuardUnavailable');
});

test('a control call error names its status as gRPC does', () => {
  for (const [name, code] of Object.entries(grpc.status).filter(([, v]) => typeof v === 'number') as [string, number][]) {
    assert.equal(new errors.ControlCallError(code, 'why', 'Update').message, `Update: why (${name})`);
  }
});

test('the local API maps errors to status codes in one place: a bad tag is INVALID_ARGUMENT', () => {
  assert.equal(statusFor(new errors.InvalidTag('tags["bad key"]', 'key must be …')), grpc.status.INVALID_ARGUMENT);
  assert.equal(statusFor(new errors.TagNotFound('missing')), grpc.status.NOT_FOUND);
  assert.equal(statusFor(new errors.TagChangeFailed(new errors.ControlCallError(grpc.status.UNAVAILABLE, 'down', 'Update'))), grpc.status.FAILED_PRECONDITION);
  assert.equal(statusFor(new Error('anything else')), grpc.status.INTERNAL);
});
