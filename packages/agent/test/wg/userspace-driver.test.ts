import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { linkListed } from '../../src/wg/userspace-driver.js';

// /proc/net/dev as the kernel writes it: two header lines, then `NAME: counters` right-aligned.
const NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    1234      12    0    0    0     0          0         0     1234      12    0    0    0     0       0          0
  eth0: 9876543   54321    0    0    0     0          0         0  1234567    4321    0    0    0     0       0          0
wglab01:      0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
`;

test('linkListed: a link /proc/net/dev lists, by its whole name only', () => {
  assert.equal(linkListed(NET_DEV, 'eth0'), true);
  assert.equal(linkListed(NET_DEV, 'lo'), true);
  assert.equal(linkListed(NET_DEV, 'wglab01'), true, 'a 7-character name fills the column: no leading space');
  assert.equal(linkListed(NET_DEV, 'wglab'), false, 'a prefix of a listed name is not listed');
  assert.equal(linkListed(NET_DEV, 'eth'), false);
  assert.equal(linkListed(NET_DEV, 'face'), false, 'the header is not a link');
  assert.equal(linkListed('', 'lo'), false);
});

test('linkListed on this machine: lo is always there, a made-up name is not', () => {
  const text = readFileSync('/proc/self/net/dev', 'utf8');
  assert.equal(linkListed(text, 'lo'), true);
  assert.equal(linkListed(text, 'wgnosuchlink9'), false);
});
