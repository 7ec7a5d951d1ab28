import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidWgConfig } from '../../src/errors.js';
import { generateKeyPair, publicKeyFromPrivate } from '../../src/wg/keys.js';
import { parseUapiGet, uapiSetLines } from '../../src/wg/uapi.js';

const hex = (b64: string) => Buffer.from(b64, 'base64').toString('hex');

describe('wireguard-go UAPI', () => {
  test('a get answer reads as wg show dump reads: absent values left out, handshake in whole seconds', () => {
    const device = generateKeyPair();
    const [a, b] = [generateKeyPair().publicKey, generateKeyPair().publicKey];
    const psk = generateKeyPair().privateKey;
    const text = [
      `private_key=${hex(device.privateKey)}`, 'listen_port=54540',
      `public_key=${hex(a)}`, `preshared_key=${hex(psk)}`, 'protocol_version=1', 'endpoint=192.0.2.2:54540',
      'last_handshake_time_sec=1700000000', 'last_handshake_time_nsec=5', 'tx_bytes=10', 'rx_bytes=20',
      'persistent_keepalive_interval=25', 'allowed_ip=198.18.0.2/32', 'allowed_ip=198.18.2.0/24',
      `public_key=${hex(b)}`, `preshared_key=${'0'.repeat(64)}`, 'protocol_version=1',
      'last_handshake_time_sec=0', 'last_handshake_time_nsec=0', 'tx_bytes=0', 'rx_bytes=0', 'persistent_keepalive_interval=0',
      '',
    ].join('\n');

    assert.deepEqual(parseUapiGet('wgtest', text), {
      name: 'wgtest',
      publicKey: publicKeyFromPrivate(device.privateKey),
      listenPort: 54540,
      peers: [
        { publicKey: a, presharedKey: psk, endpoint: '192.0.2.2:54540', allowedIps: ['198.18.0.2/32', '198.18.2.0/24'], persistentKeepalive: 25, latestHandshakeMs: 1_700_000_000_000, rxBytes: 20, txBytes: 10 },
        { publicKey: b, allowedIps: [], latestHandshakeMs: 0, rxBytes: 0, txBytes: 0 },
      ],
    });
  });

  test('set lines say what wg set says: allowed IPs replaced, keepalive always given, endpoint and key only when given', () => {
    const [a, b] = [generateKeyPair().publicKey, generateKeyPair().publicKey];
    const psk = generateKeyPair().privateKey;
    assert.deepEqual(uapiSetLines('wg0', [
      { op: 'set-peer', peer: { publicKey: a, endpoint: '[2001:db8::1]:51820', allowedIps: ['198.18.0.2', '2001:db8::/64'], presharedKey: psk } },
      { op: 'remove-peer', publicKey: b },
      { op: 'set-peer', peer: { publicKey: b, allowedIps: [], persistentKeepalive: 25 } },
    ]), [
      `public_key=${hex(a)}`, `preshared_key=${hex(psk)}`, 'endpoint=[2001:db8::1]:51820', 'persistent_keepalive_interval=0', 'replace_allowed_ips=true',
      'allowed_ip=198.18.0.2/32', 'allowed_ip=2001:db8::/64',
      `public_key=${hex(b)}`, 'remove=true',
      `public_key=${hex(b)}`, 'persistent_keepalive_interval=25', 'replace_allowed_ips=true',
    ]);
  });

  test('an endpoint that is not an IP literal (a host name, an IPv6 zone) is left to wg, which resolves it', () => {
    const a = generateKeyPair().publicKey;
    assert.equal(uapiSetLines('wg0', [{ op: 'set-peer', peer: { publicKey: a, endpoint: 'peer.example:51820', allowedIps: [] } }]), undefined);
    assert.equal(uapiSetLines('wg0', [{ op: 'set-peer', peer: { publicKey: a, endpoint: '[fe80::1%eth0]:51820', allowedIps: [] } }]), undefined);
  });

  test('a bad op is refused before anything is sent, as wg set refuses it', () => {
    assert.throws(() => uapiSetLines('wg0', [{ op: 'remove-peer', publicKey: 'not a key' }]), InvalidWgConfig);
    assert.throws(() => uapiSetLines('wg0', [{ op: 'set-peer', peer: { publicKey: generateKeyPair().publicKey, allowedIps: [], presharedKey: 'short' } }]), InvalidWgConfig);
  });
});
