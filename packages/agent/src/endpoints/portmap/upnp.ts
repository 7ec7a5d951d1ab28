/**
 * UPnP IGD, hand-written: SSDP M-SEARCH on the LAN, the gateway's device description, and the
 * WANIPConnection (or WANPPPConnection) SOAP actions GetExternalIPAddress, AddPortMapping,
 * GetSpecificPortMappingEntry and DeletePortMapping. Only the default gateway is believed: an SSDP
 * answer from another host, or a description or control URL pointing elsewhere, is ignored. XML
 * is read up to UPNP_XML_MAX bytes; a mapping is confirmed, and its deletion checked, by asking
 * the router for the entry (GetSpecificPortMappingEntry) rather than trusting the action's reply.
 */
import http from 'node:http';
import { isIPv4 } from 'node:net';
import { PortMapAnswerInvalid, PortMappingFailed, UpnpActionFailed } from '../../errors.js';
import { errorMessage } from '../../log.js';
import { boundUdpSocket } from './udp.js';
import type { Mapping, PortMapContext, PortMapProtocol } from './types.js';

export const SSDP_MULTICAST = { host: '239.255.255.250', port: 1900 } as const;
/** Largest description or SOAP answer read, bytes; a router's are a few KiB. */
export const UPNP_XML_MAX = 64 * 1024;
/** Largest SSDP answer taken, bytes (they are a few hundred). */
const SSDP_ANSWER_MAX = 4096;
const SEARCH_TARGETS = ['urn:schemas-upnp-org:device:InternetGatewayDevice:1', 'urn:schemas-upnp-org:device:InternetGatewayDevice:2'];
/** Services that can map a port, most preferred first. */
const SERVICE_TYPES = [
  'urn:schemas-upnp-org:service:WANIPConnection:2',
  'urn:schemas-upnp-org:service:WANIPConnection:1',
  'urn:schemas-upnp-org:service:WANPPPConnection:1',
];
const ERR_NO_SUCH_ENTRY = 714;
const ERR_CONFLICT = 718;
const ERR_PERMANENT_ONLY = 725;
/** A permanent mapping (lease 0) is still re-checked this often (seconds, renewed at half). */
const PERMANENT_RECHECK_SEC = 3600;
const IGNORED_LOGGED_MAX = 5;

/** The LOCATION of an SSDP answer (an HTTP/1.1 200 with an IGD search target), or why it is not one. */
export function parseSsdpAnswer(text: string): { location: string } {
  const lines = text.split('\r\n');
  if (!/^HTTP\/1\.[01] 200\b/.test(lines[0] ?? '')) throw new PortMapAnswerInvalid('SSDP answer is not "HTTP/1.1 200 OK"');
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const location = headers.get('location');
  if (!location) throw new PortMapAnswerInvalid('SSDP answer has no LOCATION');
  return { location };
}

function unescapeXml(text: string): string {
  return text.replace(/&(lt|gt|amp|quot|apos);/g, (_, e: string) => ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" })[e]!);
}

/** The text of the first element `name` (any namespace prefix), or undefined. */
export function elementText(xml: string, name: string): string | undefined {
  const m = new RegExp(`<(?:[A-Za-z_][\\w.-]*:)?${name}(?:\\s[^>]*)?>([^<]*)</(?:[A-Za-z_][\\w.-]*:)?${name}\\s*>`).exec(xml);
  return m ? unescapeXml(m[1]!.trim()) : undefined;
}

/** A URL on the gateway itself (http, host = gateway), or PortMapAnswerInvalid. */
function onGateway(text: string, base: string | undefined, gateway: string, what: string): URL {
  let url: URL;
  try {
    url = base === undefined ? new URL(text) : new URL(text, base);
  } catch {
    throw new PortMapAnswerInvalid(`${what} ${JSON.stringify(text.slice(0, 80))} is not a URL`);
  }
  if (url.protocol !== 'http:') throw new PortMapAnswerInvalid(`${what} ${url.href.slice(0, 80)} is not http://`);
  if (url.hostname !== gateway) throw new PortMapAnswerInvalid(`${what} ${url.href.slice(0, 80)} is not on the gateway ${gateway}`);
  return url;
}

export interface UpnpService {
  readonly serviceType: string;
  readonly controlUrl: URL;
}

/** The preferred port-mapping service of a device description, with its control URL (on the gateway). */
export function parseDescription(xml: string, location: string, gateway: string): UpnpService {
  const base = elementText(xml, 'URLBase') || location;
  const found = new Map<string, string>();
  for (const m of xml.matchAll(/<service(?:\s[^>]*)?>([\s\S]*?)<\/service\s*>/g)) {
    const type = elementText(m[1]!, 'serviceType');
    const control = elementText(m[1]!, 'controlURL');
    if (type && control && !found.has(type)) found.set(type, control);
  }
  const serviceType = SERVICE_TYPES.find((t) => found.has(t));
  if (!serviceType) throw new PortMappingFailed('UPnP', 'the gateway\'s device description has no WANIPConnection or WANPPPConnection service');
  return { serviceType, controlUrl: onGateway(found.get(serviceType)!, base, gateway, 'control URL') };
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

export function soapEnvelope(serviceType: string, action: string, args: readonly (readonly [string, string | number])[]): string {
  const body = args.map(([k, v]) => `<${k}>${escapeXml(String(v))}</${k}>`).join('');
  return (
    '<?xml version="1.0"?>\r\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">' +
    `<s:Body><u:${action} xmlns:u="${escapeXml(serviceType)}">${body}</u:${action}></s:Body></s:Envelope>`
  );
}

/** A SOAP answer: the action's response element present (200), or UpnpActionFailed with the fault's code (500). */
export function parseSoapAnswer(action: string, status: number, xml: string): string {
  if (status === 200) {
    if (!new RegExp(`<(?:[A-Za-z_][\\w.-]*:)?${action}Response[\\s/>]`).test(xml)) throw new PortMapAnswerInvalid(`${action}: the answer has no ${action}Response`);
    return xml;
  }
  const code = elementText(xml, 'errorCode');
  if (code !== undefined && /^\d{1,4}$/.test(code)) throw new UpnpActionFailed(action, Number(code), (elementText(xml, 'errorDescription') ?? '').slice(0, 80));
  throw new PortMappingFailed('UPnP', `${action}: HTTP ${status} without a UPnP error code`);
}

export interface HttpAnswer {
  status: number;
  body: string;
}

/** One HTTP request; the body is read up to `maxBytes` (more: PortMapAnswerInvalid). */
export function httpRequest(url: URL, options: { method: 'GET' | 'POST'; headers?: Record<string, string>; body?: string; timeoutMs: number; maxBytes: number; signal: AbortSignal }): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method, headers: { ...options.headers, connection: 'close' }, signal: options.signal, timeout: options.timeoutMs }, (res) => {
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > options.maxBytes) {
        res.destroy();
        reject(new PortMapAnswerInvalid(`${url.pathname} answer of ${declared} bytes, more than ${options.maxBytes}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > options.maxBytes) {
          res.destroy();
          reject(new PortMapAnswerInvalid(`${url.pathname} answer of more than ${options.maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

export interface UpnpInit extends PortMapContext {
  /** Where M-SEARCH goes; default the SSDP multicast group (tests: a fake on loopback). */
  readonly ssdp?: { readonly host: string; readonly port: number };
  /** How long SSDP answers are waited for, ms. */
  readonly searchMs: number;
  /** Per HTTP request, ms. */
  readonly httpTimeoutMs: number;
  /** NewPortMappingDescription. */
  readonly description?: string;
}

export class UpnpClient implements PortMapProtocol {
  readonly name = 'UPnP' as const;
  private service: UpnpService | undefined;
  private externalPort: number | undefined;
  private leaseSec: number;

  constructor(private readonly init: UpnpInit) {
    this.leaseSec = init.lifetimeSec;
  }

  async map(signal: AbortSignal): Promise<Mapping> {
    try {
      this.service ??= await this.discover(signal);
      return await this.mapWith(this.service, signal);
    } catch (err) {
      // A router that restarted may serve on another port: find it again next time.
      this.service = undefined;
      throw err;
    }
  }

  async unmap(signal: AbortSignal): Promise<void> {
    const service = this.service;
    const port = this.externalPort;
    if (!service || port === undefined) return;
    try {
      await this.action(service, 'DeletePortMapping', [['NewRemoteHost', ''], ['NewExternalPort', port], ['NewProtocol', 'UDP']], signal);
    } catch (err) {
      if (!(err instanceof UpnpActionFailed && err.upnpCode === ERR_NO_SUCH_ENTRY)) throw err;
    }
    // The router's table, not the action's reply, says whether it is gone.
    if (await this.entryIsOurs(service, port, signal)) throw new PortMappingFailed(this.name, `the router still holds UDP port ${port} after DeletePortMapping`);
    this.externalPort = undefined;
  }

  private async mapWith(service: UpnpService, signal: AbortSignal): Promise<Mapping> {
    const externalIp = elementText(await this.action(service, 'GetExternalIPAddress', [], signal), 'NewExternalIPAddress') ?? '';
    if (!isIPv4(externalIp)) throw new PortMapAnswerInvalid(`GetExternalIPAddress: ${JSON.stringify(externalIp.slice(0, 40))} is not an IPv4 address`);
    const { internalPort, localIp } = this.init;
    let port = this.externalPort ?? this.init.suggestedExternalPort;
    for (let tries = 0; ; tries++) {
      try {
        await this.action(service, 'AddPortMapping', [
          ['NewRemoteHost', ''], ['NewExternalPort', port], ['NewProtocol', 'UDP'], ['NewInternalPort', internalPort], ['NewInternalClient', localIp],
          ['NewEnabled', 1], ['NewPortMappingDescription', this.init.description ?? 'wgmesh'], ['NewLeaseDuration', this.leaseSec],
        ], signal);
        break;
      } catch (err) {
        if (!(err instanceof UpnpActionFailed) || tries >= 4) throw err;
        if (err.upnpCode === ERR_PERMANENT_ONLY && this.leaseSec !== 0) this.leaseSec = 0;
        else if (err.upnpCode === ERR_CONFLICT) port = 1024 + Math.floor(Math.random() * (65536 - 1024));
        else throw err;
      }
    }
    if (!(await this.entryIsOurs(service, port, signal))) throw new PortMappingFailed(this.name, `AddPortMapping answered, but the router shows no mapping of UDP port ${port} to ${localIp}:${internalPort}`);
    this.externalPort = port;
    return { externalIp, externalPort: port, lifetimeSec: this.leaseSec || PERMANENT_RECHECK_SEC };
  }

  /** Whether the router's table maps external UDP `port` to this host's internal port. */
  private async entryIsOurs(service: UpnpService, port: number, signal: AbortSignal): Promise<boolean> {
    let xml: string;
    try {
      xml = await this.action(service, 'GetSpecificPortMappingEntry', [['NewRemoteHost', ''], ['NewExternalPort', port], ['NewProtocol', 'UDP']], signal);
    } catch (err) {
      if (err instanceof UpnpActionFailed) return false;
      throw err;
    }
    return elementText(xml, 'NewInternalClient') === this.init.localIp && elementText(xml, 'NewInternalPort') === String(this.init.internalPort);
  }

  private async action(service: UpnpService, action: string, args: readonly (readonly [string, string | number])[], signal: AbortSignal): Promise<string> {
    let answer: HttpAnswer;
    try {
      answer = await httpRequest(service.controlUrl, {
        method: 'POST',
        headers: { 'content-type': 'text/xml; charset="utf-8"', soapaction: `"${service.serviceType}#${action}"` },
        body: soapEnvelope(service.serviceType, action, args),
        timeoutMs: this.init.httpTimeoutMs,
        maxBytes: UPNP_XML_MAX,
        signal,
      });
    } catch (err) {
      if (err instanceof PortMapAnswerInvalid) this.init.logger.warn('port mapping: answer ignored', { protocol: this.name, from: service.controlUrl.host, reason: err.reason });
      throw err instanceof PortMapAnswerInvalid ? new PortMappingFailed(this.name, `${action}: ${err.reason}`) : new PortMappingFailed(this.name, `${action}: ${errorMessage(err)}`);
    }
    try {
      return parseSoapAnswer(action, answer.status, answer.body);
    } catch (err) {
      if (!(err instanceof PortMapAnswerInvalid)) throw err;
      this.init.logger.warn('port mapping: answer ignored', { protocol: this.name, from: service.controlUrl.host, reason: err.reason });
      throw new PortMappingFailed(this.name, err.reason);
    }
  }

  /** M-SEARCH, then the first answering gateway's description. */
  private async discover(signal: AbortSignal): Promise<UpnpService> {
    const location = await this.search(signal);
    let answer: HttpAnswer;
    try {
      answer = await httpRequest(location, { method: 'GET', timeoutMs: this.init.httpTimeoutMs, maxBytes: UPNP_XML_MAX, signal });
    } catch (err) {
      if (err instanceof PortMapAnswerInvalid) this.init.logger.warn('port mapping: answer ignored', { protocol: this.name, from: location.host, reason: err.reason });
      throw new PortMappingFailed(this.name, `device description ${location.href}: ${err instanceof PortMapAnswerInvalid ? err.reason : errorMessage(err)}`);
    }
    if (answer.status !== 200) throw new PortMappingFailed(this.name, `device description ${location.href}: HTTP ${answer.status}`);
    try {
      return parseDescription(answer.body, location.href, this.init.gateway);
    } catch (err) {
      if (!(err instanceof PortMapAnswerInvalid)) throw err;
      this.init.logger.warn('port mapping: answer ignored', { protocol: this.name, from: location.host, reason: err.reason });
      throw new PortMappingFailed(this.name, err.reason);
    }
  }

  /** The LOCATION of the first acceptable SSDP answer from the gateway. */
  private async search(signal: AbortSignal): Promise<URL> {
    const target = this.init.ssdp ?? SSDP_MULTICAST;
    const { gateway, logger } = this.init;
    const socket = await boundUdpSocket();
    let ignored = 0;
    try {
      socket.setMulticastTTL(2);
      return await new Promise<URL>((resolve, reject) => {
        const timers: NodeJS.Timeout[] = [];
        const finish = (err: Error | undefined, url?: URL) => {
          timers.forEach(clearTimeout);
          signal.removeEventListener('abort', onAbort);
          if (err) reject(err);
          else resolve(url!);
        };
        const onAbort = () => finish(new PortMappingFailed(this.name, 'stopped'));
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort);
        socket.on('error', (err) => finish(new PortMappingFailed(this.name, `SSDP socket: ${err.message}`)));
        socket.on('message', (packet, rinfo) => {
          try {
            if (rinfo.address !== gateway) throw new PortMapAnswerInvalid(`SSDP answer not from the gateway ${gateway}`);
            if (packet.length > SSDP_ANSWER_MAX) throw new PortMapAnswerInvalid(`SSDP answer of ${packet.length} bytes, more than ${SSDP_ANSWER_MAX}`);
            const { location } = parseSsdpAnswer(packet.toString('latin1'));
            finish(undefined, onGateway(location, undefined, gateway, 'SSDP LOCATION'));
          } catch (err) {
            if (!(err instanceof PortMapAnswerInvalid)) throw err;
            if (++ignored <= IGNORED_LOGGED_MAX) logger.warn('port mapping: answer ignored', { protocol: this.name, from: `${rinfo.address}:${rinfo.port}`, reason: err.reason });
          }
        });
        const send = () => {
          for (const st of SEARCH_TARGETS) {
            const msg = `M-SEARCH * HTTP/1.1\r\nHOST: ${SSDP_MULTICAST.host}:${SSDP_MULTICAST.port}\r\nMAN: "ssdp:discover"\r\nMX: 1\r\nST: ${st}\r\n\r\n`;
            socket.send(msg, target.port, target.host);
          }
        };
        send();
        // Sent twice: one lost datagram must not cost the whole search.
        timers.push(setTimeout(send, Math.floor(this.init.searchMs / 3)));
        timers.push(setTimeout(() => finish(new PortMappingFailed(this.name, `no SSDP answer from the gateway ${gateway} within ${this.init.searchMs} ms`)), this.init.searchMs));
      });
    } finally {
      socket.close();
    }
  }
}
