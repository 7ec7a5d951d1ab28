import * as grpc from '@grpc/grpc-js';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { certCommonName, splitPem } from '@wgmesh/bootstrap/tls/mtls';
import { type BootstrapTlsInit } from '@wgmesh/bootstrap/node';
import { UsageError, type FlagSpec, type FlagValues } from '../flags/parse.js';

export const TLS_SERVER_FLAGS: FlagSpec[] = [
  { name: 'grpc-ca-cert', type: 'string', value: 'FILE', help: 'CA certificate that signs node certificates (PEM)' },
  { name: 'grpc-server-cert', type: 'string', value: 'FILE', help: 'the join service\'s certificate (PEM)' },
  { name: 'grpc-server-key', type: 'string', value: 'FILE', help: 'the join service\'s private key (PEM)' },
  { name: 'grpc-ca-path', type: 'string', value: 'DIR', help: 'instead of -grpc-ca-cert: a directory of CA certificates' },
  { name: 'grpc-crl', type: 'string', value: 'FILE', help: 'revocation list (crl.pem from `wgmesh ca`), reloaded when it changes' },
  {
    name: 'cert-lifetime', type: 'string', value: 'DURATION',
    help: 'validity of the node certificates this bootstrap signs (enrolled and renewed; nodes renew at two thirds of it): e.g. 365d (the default), 90d, 12h, 60s. Needs -ca-key',
  },
  {
    name: 'ca-key', type: 'string', value: 'FILE',
    help: 'the CA\'s private key (ca-key.pem beside -grpc-ca-cert): this bootstrap then signs node certificates for enrollment tokens (`wgmesh token create`, `wgmesh join -token`)',
  },
];

export const TLS_CLIENT_FLAGS: FlagSpec[] = [
  { name: 'ca-cert', type: 'string', value: 'FILE', help: 'CA certificate the bootstrap\'s certificate must chain to (PEM)' },
  { name: 'client-cert', type: 'string', value: 'FILE', help: 'this node\'s certificate (PEM), CN = node name' },
  { name: 'client-key', type: 'string', value: 'FILE', help: 'this node\'s private key (PEM)' },
];

/** -dev runs without TLS: TLS settings beside it (from flags, environment or file) are refused, as the original does. */
export function refuseTlsWithDev(values: FlagValues, tlsFlags: readonly FlagSpec[]): void {
  if (!values.dev) return;
  const given = tlsFlags.map((f) => f.name).filter((f) => values[f]);
  if (given.length) throw new UsageError(`-dev runs without TLS: leave out ${given.map((f) => '-' + f).join(', ')}, or leave out -dev to use TLS`);
}

/** -grpc-ca-cert and -grpc-ca-path both name the CA: one of them (the original refuses both too). */
export function refuseTwoCaSources(values: FlagValues): void {
  if (values['grpc-ca-cert'] && values['grpc-ca-path']) {
    throw new UsageError(`-grpc-ca-cert ${String(values['grpc-ca-cert'])} and -grpc-ca-path ${String(values['grpc-ca-path'])} both name the CA: give one of them (a directory of CA certificates, -grpc-ca-path, may hold several)`);
  }
}

async function readPem(file: string, flag: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new UsageError(`-${flag} ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}

/**
 * The join service's TLS files, read (client certificates are then required and checked on every
 * call). The bootstrap node checks them at start: a certificate of another CA, or an expired one,
 * is refused there with what to do.
 */
export async function serverTlsFromFlags(values: FlagValues): Promise<BootstrapTlsInit> {
  refuseTwoCaSources(values);
  const missing = ['grpc-server-cert', 'grpc-server-key'].filter((f) => !values[f]);
  if (!values['grpc-ca-cert'] && !values['grpc-ca-path']) missing.unshift('grpc-ca-cert (or -grpc-ca-path)');
  if (missing.length) {
    throw new UsageError(
      `without -dev the join service needs TLS: missing ${missing.map((m) => '-' + m).join(', ')}.\n` +
        'Make a CA and certificates with:\n  wgmesh ca init -dir ./ca\n  wgmesh ca issue -dir ./ca -server -ip <bootstrap IP> bootstrap\n' +
        'or run with -dev to try wgmesh without TLS (anyone who reaches the port can join).',
    );
  }
  const ca = values['grpc-ca-cert'] ? await readPem(String(values['grpc-ca-cert']), 'grpc-ca-cert') : await readCaPath(String(values['grpc-ca-path']));
  const cert = await readPem(String(values['grpc-server-cert']), 'grpc-server-cert');
  const key = await readPem(String(values['grpc-server-key']), 'grpc-server-key');
  const caKey = values['ca-key'] ? await readPem(String(values['ca-key']), 'ca-key') : undefined;
  const lifetime = values['cert-lifetime'] ? parseLifetime(String(values['cert-lifetime']), '-cert-lifetime') : undefined;
  if (lifetime !== undefined && !caKey) throw new UsageError('-cert-lifetime is the validity of the certificates this bootstrap signs: it needs -ca-key');
  return {
    caPem: ca, certPem: cert, keyPem: key,
    certFile: String(values['grpc-server-cert']), keyFile: String(values['grpc-server-key']),
    ...(lifetime !== undefined ? { certLifetimeMs: lifetime } : {}),
    ...(values['grpc-crl'] ? { crlFile: String(values['grpc-crl']) } : {}), ...(caKey ? { caKeyPem: caKey } : {}) };
}

/** Every PEM certificate in a directory, as one CA bundle. */
async function readCaPath(dir: string): Promise<Buffer> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => /\.(pem|crt)$/.test(n)).sort();
  } catch (err) {
    throw new UsageError(`-grpc-ca-path ${dir}: ${(err as Error).message}`);
  }
  const pems = (await Promise.all(names.map((n) => readFile(path.join(dir, n), 'utf8')))).flatMap((text) => splitPem(text));
  if (pems.length === 0) throw new UsageError(`-grpc-ca-path ${dir} holds no PEM certificate (*.pem, *.crt)`);
  return Buffer.from(pems.join('\n') + '\n');
}

/**
 * What a channel to one bootstrap is told about its name: the certificate's SANs must match it. Each
 * bootstrap gets its own (dialing by IP, or by an address a host name resolved to, the name stays).
 */
export function tlsChannelOptions(host: string): grpc.ChannelOptions {
  // Naming the target explicitly also avoids Node's DEP0123 warning when dialing by IP.
  return { 'grpc.ssl_target_name_override': host, 'grpc.default_authority': host };
}

export async function clientTlsFromFlags(values: FlagValues, host: string, nodeName: string | undefined): Promise<{ credentials: grpc.ChannelCredentials; channelOptions: grpc.ChannelOptions; certName: string }> {
  const missing = ['ca-cert', 'client-cert', 'client-key'].filter((f) => !values[f]);
  if (missing.length) {
    throw new UsageError(
      `without -dev, joining needs TLS: missing ${missing.map((m) => '-' + m).join(', ')}.\n` +
        'Get a node certificate from the mesh operator (`wgmesh ca issue -dir ./ca NODE-NAME`), or use -dev if the bootstrap runs in dev mode.',
    );
  }
  const ca = await readPem(String(values['ca-cert']), 'ca-cert');
  const cert = await readPem(String(values['client-cert']), 'client-cert');
  const key = await readPem(String(values['client-key']), 'client-key');
  return clientTlsFromPems({ ca, cert, key }, host, nodeName);
}

/** Client TLS from PEMs in hand (from files, or from an enrollment). */
export function clientTlsFromPems(pems: { ca: Buffer; cert: Buffer; key: Buffer }, host: string, nodeName: string | undefined): { credentials: grpc.ChannelCredentials; channelOptions: grpc.ChannelOptions; certName: string } {
  const { ca, cert, key } = pems;
  const { cn, problem } = checkClientCertificate(cert, ca, nodeName, Date.now());
  if (problem) throw new UsageError(problem);
  if (!keyMatches(cert, key)) {
    throw new UsageError(`client side: the private key is not the key of the certificate "${cn}" (a certificate renewal interrupted between writing the key and the certificate leaves this); issue a new certificate with \`wgmesh ca issue ${cn}\` or enroll again`);
  }
  return {
    certName: cn,
    credentials: grpc.credentials.createSsl(ca, key, cert),
    channelOptions: tlsChannelOptions(host),
  };
}

function keyMatches(certPem: Buffer, keyPem: Buffer): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

/**
 * Checks this node's own certificate before dialing: the bootstrap's verdict on a bad one would
 * arrive only as a refused call, while here we can say exactly what is wrong.
 */
export function clientCertificateProblem(certPem: Buffer, caPem: Buffer, nodeName: string | undefined, now: number): string | undefined {
  return checkClientCertificate(certPem, caPem, nodeName, now).problem;
}

/** The certificate parsed once: its CN ('' if it does not parse) and what is wrong with it, if anything. */
function checkClientCertificate(certPem: Buffer, caPem: Buffer, nodeName: string | undefined, now: number): { cn: string; problem: string | undefined } {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    return { cn: '', problem: `-client-cert is not a PEM certificate: ${(err as Error).message}` };
  }
  const cn = certCommonName(cert);
  const cas = splitPem(caPem.toString()).map((p) => new X509Certificate(p));
  if (!cas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey))) {
    return { cn, problem: `client side: the client certificate "${cn}" is not signed by the CA in -ca-cert; use the node certificate and CA of the same mesh (\`wgmesh ca issue\`)` };
  }
  if (Date.parse(cert.validTo) < now) return { cn, problem: `client side: the client certificate "${cn}" expired on ${new Date(cert.validTo).toISOString().slice(0, 10)}; issue a new one with \`wgmesh ca issue ${cn}\`` };
  if (Date.parse(cert.validFrom) > now) return { cn, problem: `client side: the client certificate "${cn}" is not valid before ${new Date(cert.validFrom).toISOString()}; check this machine's clock` };
  if (nodeName && cn.toLowerCase() !== nodeName.toLowerCase()) {
    return { cn, problem: `client side: -node-name "${nodeName}" does not match the client certificate's CN "${cn}"; the bootstrap only accepts the name the certificate was issued for (leave -node-name out to use "${cn}")` };
  }
  return { cn, problem: undefined };
}

/** A lifetime: a number with s, m, h or d (days), e.g. 60s, 12h, 365d. */
export function parseLifetime(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d)$/.exec(text.trim());
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
  const ms = m ? Math.round(Number(m[1]) * unit[m[2] as keyof typeof unit]) : NaN;
  if (!(ms >= 10_000) || ms > 100 * 365 * 86_400_000) throw new UsageError(`${flag} ${text}: give a duration between 10s and 100 years, with s, m, h or d (e.g. 60s, 90d)`);
  return ms;
}
