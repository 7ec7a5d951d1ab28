/**
 * Fake routers on loopback for the port mapper's tests: one UDP socket speaking PCP and NAT-PMP
 * (as a router's port 5351 does), an SSDP responder and an HTTP IGD with a WANIPConnection:1
 * service. Each records what it was asked and can be told to answer wrongly.
 */
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../../src/log.js';

export { recordingLogger, type LogLine } from '../../fixtures.js';

/** Resolves once `check` holds, checked every 10 ms; rejects naming `what` after `deadlineMs`. */
export async function until(what: string, check: () => boolean, deadlineMs = 5000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function bindUdp(address: string): Promise<dgram.Socket> {
  const socket = dgram.createSocket('udp4');
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, address, () => resolve(socket));
  });
}

export interface PmpRequest {
  readonly protocol: 'PCP' | 'NAT-PMP';
  readonly opcode: number;
  /** Requested lifetime of a mapping request (0: a delete). */
  readonly lifetimeSec?: number;
  readonly packet: Buffer;
  readonly at: number;
}

/** A router's PCP/NAT-PMP port on 127.0.0.1. */
export class FakePmpRouter extends EventEmitter {
  readonly requests: PmpRequest[] = [];
  externalIp = '203.0.113.7';
  lifetimeSec = 2;
  /** false: answers PCP as a NAT-PMP-only router does (version 0, unsupported version). */
  pcp = true;
  /** false: NAT-PMP requests go unanswered. */
  natpmp = true;
  /** Answers instead of the proper one (undefined: silence); `proper` is what it would have sent. */
  override: ((request: Buffer, proper: Buffer) => Buffer | undefined) | undefined;
  /** Sends answers from this socket instead (another address or port than the router's). */
  answerFrom: dgram.Socket | undefined;
  private constructor(readonly socket: dgram.Socket) {
    super();
    socket.on('message', (packet, rinfo) => this.handle(packet, rinfo));
  }

  static async start(): Promise<FakePmpRouter> {
    return new FakePmpRouter(await bindUdp('127.0.0.1'));
  }

  get port(): number {
    return (this.socket.address() as AddressInfo).port;
  }

  /** The external port granted for an internal port. */
  mappedPort(internalPort: number): number {
    return internalPort + 1000;
  }

  mapRequests(protocol?: PmpRequest['protocol']): PmpRequest[] {
    return this.requests.filter((r) => r.lifetimeSec !== undefined && (!protocol || r.protocol === protocol));
  }

  close(): void {
    this.socket.close();
    this.answerFrom?.close();
  }

  private handle(packet: Buffer, rinfo: dgram.RemoteInfo): void {
    const proper = packet[0] === 2 ? this.pcpAnswer(packet) : this.natPmpAnswer(packet);
    this.emit('request');
    if (proper === undefined) return;
    const answer = this.override ? this.override(packet, proper) : proper;
    if (answer) (this.answerFrom ?? this.socket).send(answer, rinfo.port, rinfo.address);
  }

  private pcpAnswer(req: Buffer): Buffer | undefined {
    const lifetime = req.readUInt32BE(4);
    this.requests.push({ protocol: 'PCP', opcode: req[1]!, lifetimeSec: lifetime, packet: req, at: Date.now() });
    if (!this.pcp) return Buffer.from([0, 128 + req[1]!, 0, 1, 0, 0, 0, 1]);
    const b = Buffer.alloc(60);
    b[0] = 2;
    b[1] = 0x81;
    const granted = lifetime === 0 ? 0 : Math.min(lifetime, this.lifetimeSec);
    b.writeUInt32BE(granted, 4);
    b.writeUInt32BE(1000, 8);
    req.copy(b, 24, 24, 60);
    b.writeUInt16BE(this.mappedPort(req.readUInt16BE(40)), 42);
    b.fill(0, 44, 54);
    b[54] = 0xff;
    b[55] = 0xff;
    this.externalIp.split('.').forEach((o, i) => (b[56 + i] = Number(o)));
    return b;
  }

  private natPmpAnswer(req: Buffer): Buffer | undefined {
    const opcode = req[1]!;
    if (opcode === 0) {
      this.requests.push({ protocol: 'NAT-PMP', opcode, packet: req, at: Date.now() });
      if (!this.natpmp) return undefined;
      const b = Buffer.alloc(12);
      b[1] = 128;
      b.writeUInt32BE(1000, 4);
      this.externalIp.split('.').forEach((o, i) => (b[8 + i] = Number(o)));
      return b;
    }
    const lifetime = req.readUInt32BE(8);
    this.requests.push({ protocol: 'NAT-PMP', opcode, lifetimeSec: lifetime, packet: req, at: Date.now() });
    if (!this.natpmp) return undefined;
    const internal = req.readUInt16BE(4);
    const b = Buffer.alloc(16);
    b[1] = 128 + opcode;
    b.writeUInt32BE(1000, 4);
    b.writeUInt16BE(internal, 8);
    b.writeUInt16BE(lifetime === 0 ? 0 : this.mappedPort(internal), 10);
    b.writeUInt32BE(lifetime === 0 ? 0 : Math.min(lifetime, this.lifetimeSec), 12);
    return b;
  }
}

/** A socket on another loopback address, for answers that do not come from the gateway. */
export function otherSocket(address = '127.0.0.2'): Promise<dgram.Socket> {
  return bindUdp(address);
}

export interface SoapCall {
  readonly action: string;
  readonly body: string;
}

/**
 * An IGD on 127.0.0.1: SSDP answers on one UDP port (pointing at its HTTP server), a device
 * description with WANIPConnection:1, and a port-mapping table the SOAP actions change.
 */
export class FakeIgd {
  readonly calls: SoapCall[] = [];
  readonly table = new Map<number, { client: string; internalPort: number; lease: number }>();
  externalIp = '203.0.113.9';
  /** Replaces the description (or the SSDP LOCATION) served. */
  description: string | undefined;
  location: string | undefined;
  /** AddPortMapping answers this UPnP error code first (725: permanent leases only). */
  addError: number | undefined;
  /** DeletePortMapping says OK but leaves the entry (as STACK-NOTES saw a library's unmap do). */
  deleteLies = false;
  /** A SOAP answer body this big (bytes of padding) instead of the proper one. */
  oversize = 0;
  searches = 0;
  private constructor(readonly ssdp: dgram.Socket, readonly server: http.Server) {
    ssdp.on('message', (_packet, rinfo) => {
      this.searches++;
      const answer = `HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nUSN: uuid:fake::urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nEXT:\r\nLOCATION: ${this.location ?? `http://127.0.0.1:${this.httpPort}/rootDesc.xml`}\r\n\r\n`;
      ssdp.send(answer, rinfo.port, rinfo.address);
    });
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handle(req, res, Buffer.concat(chunks).toString('utf8')));
    });
  }

  static async start(): Promise<FakeIgd> {
    const ssdp = await bindUdp('127.0.0.1');
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new FakeIgd(ssdp, server);
  }

  get ssdpTarget(): { host: string; port: number } {
    return { host: '127.0.0.1', port: (this.ssdp.address() as AddressInfo).port };
  }

  get httpPort(): number {
    return (this.server.address() as AddressInfo).port;
  }

  actions(name: string): SoapCall[] {
    return this.calls.filter((c) => c.action === name);
  }

  close(): void {
    this.ssdp.close();
    this.server.closeAllConnections();
    this.server.close();
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
    if (req.method === 'GET' && req.url === '/rootDesc.xml') {
      res.writeHead(200, { 'content-type': 'text/xml' }).end(this.description ?? DESCRIPTION);
      return;
    }
    const action = /#(\w+)"?$/.exec(String(req.headers.soapaction ?? ''))?.[1] ?? '';
    if (req.method !== 'POST' || req.url !== '/ctl/IPConn' || !action) {
      res.writeHead(404).end();
      return;
    }
    this.calls.push({ action, body });
    if (this.oversize) {
      res.writeHead(200, { 'content-type': 'text/xml' }).end(`<u:${action}Response>${' '.repeat(this.oversize)}</u:${action}Response>`);
      return;
    }
    const arg = (name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(body)?.[1] ?? '';
    const ok = (inner = ''): void => void res.writeHead(200, { 'content-type': 'text/xml' }).end(
      `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:${action}Response xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1">${inner}</u:${action}Response></s:Body></s:Envelope>`,
    );
    const fault = (code: number, text: string): void => void res.writeHead(500, { 'content-type': 'text/xml' }).end(
      `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>${code}</errorCode><errorDescription>${text}</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`,
    );
    const port = Number(arg('NewExternalPort'));
    switch (action) {
      case 'GetExternalIPAddress':
        return ok(`<NewExternalIPAddress>${this.externalIp}</NewExternalIPAddress>`);
      case 'AddPortMapping': {
        if (this.addError !== undefined) {
          const code = this.addError;
          this.addError = undefined;
          return fault(code, code === 725 ? 'OnlyPermanentLeasesSupported' : 'ConflictInMappingEntry');
        }
        this.table.set(port, { client: arg('NewInternalClient'), internalPort: Number(arg('NewInternalPort')), lease: Number(arg('NewLeaseDuration')) });
        return ok();
      }
      case 'GetSpecificPortMappingEntry': {
        const entry = this.table.get(port);
        if (!entry) return fault(714, 'NoSuchEntryInArray');
        return ok(`<NewInternalPort>${entry.internalPort}</NewInternalPort><NewInternalClient>${entry.client}</NewInternalClient><NewEnabled>1</NewEnabled><NewPortMappingDescription>wgmesh</NewPortMappingDescription><NewLeaseDuration>${entry.lease}</NewLeaseDuration>`);
      }
      case 'DeletePortMapping':
        if (!this.table.has(port)) return fault(714, 'NoSuchEntryInArray');
        if (!this.deleteLies) this.table.delete(port);
        return ok();
      default:
        return fault(401, 'Invalid Action');
    }
  }
}

const DESCRIPTION = `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>0</minor></specVersion>
<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType><controlURL>/ctl/L3F</controlURL></service></serviceList>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>
<controlURL>/ctl/IPConn</controlURL><eventSubURL>/evt/IPConn</eventSubURL><SCPDURL>/WANIPCn.xml</SCPDURL></service></serviceList>
</device></deviceList></device></deviceList></device></root>`;
