/**
 * `wgmesh ui`'s HTTP server: the page, the original tool's API (/api/nodes, /api/mesh, the
 * websocket /api/updates), the status and RTT documents of `info -json` and `rtt -json`
 * (/api/v1/status, /api/v1/rtt), and the page's live feed (/api/v1/events, server-sent events).
 *
 * Read-only: GET only, anything else is 405. No CORS headers: another site's page cannot read
 * it. Bound to loopback, it answers only requests addressed to a loopback name (a DNS-rebinding
 * page's Host is its own name); with a token, every request must carry it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import { UiListenFailed } from '../errors.js';
import { nodeListKey, originalMesh, originalNodes, originalUpdate } from './api.js';
import type { RttMatrix, SourceEvent, Status } from './source.js';
import { acceptKey, validKey, WebSocketConnection } from './websocket.js';

/** What the server reads: the status source (source.ts), or a stand-in in tests. */
export interface UiData {
  latest(): Status | undefined;
  lastError(): string | undefined;
  info(): Promise<Status>;
  rtt(): Promise<RttMatrix>;
  subscribe(listener: (e: SourceEvent) => void): () => void;
}

export interface Asset {
  readonly type: string;
  readonly body: Buffer;
}

export interface UiServerComponents {
  readonly data: UiData;
  /** The page's files by URL path ("/", "/app.js", ...). */
  readonly assets: ReadonlyMap<string, Asset>;
}

/** What a client that does not read may have waiting for it before it is dropped. */
export const MAX_CLIENT_BACKLOG_BYTES = 8 * 1024 * 1024;

export interface UiServerInit {
  readonly host: string;
  readonly port: number;
  /** Required as a bearer token or basic-auth password when set. */
  readonly token?: string | undefined;
  /** How often the RTT matrix is fetched for the page while one is open. */
  readonly rttIntervalMs?: number;
  /** Comment lines that keep idle event streams open through proxies. */
  readonly keepAliveMs?: number;
}

export const UI_DEFAULTS = { host: '127.0.0.1', port: 9095, rttIntervalMs: 5000, keepAliveMs: 15000 } as const;

/** 127.0.0.0/8, ::1 (and ::ffff:127.x), or the name localhost. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** The host name of a Host header ("[::1]:9095" -> "::1"). */
function hostName(header: string): string {
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(header) ?? /^([^:]+)(?::\d+)?$/.exec(header);
  return m ? m[1]! : header;
}

const SECURITY_HEADERS = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
};

export class UiServer {
  private readonly server: Server;
  private readonly events = new Set<ServerResponse>();
  private readonly sockets = new Set<WebSocketConnection>();
  private readonly open = new Set<Socket>();
  private unsubscribe: (() => void) | undefined;
  private rttTimer: NodeJS.Timeout | undefined;
  private keepAlive: NodeJS.Timeout | undefined;
  private lastRtt: RttMatrix | undefined;
  private nodesKey: string | undefined;
  private readonly init: Required<Omit<UiServerInit, 'token'>> & { token: string | undefined };

  constructor(
    private readonly components: UiServerComponents,
    init: UiServerInit,
  ) {
    this.init = { rttIntervalMs: UI_DEFAULTS.rttIntervalMs, keepAliveMs: UI_DEFAULTS.keepAliveMs, ...init, token: init.token || undefined };
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.upgrade(req, socket, head));
    this.server.on('connection', (s: Socket) => {
      this.open.add(s);
      s.on('close', () => this.open.delete(s));
    });
  }

  /** Listens; a port in use or not allowed becomes UiListenFailed saying what to do. */
  async start(): Promise<void> {
    const { host, port } = this.init;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
        if (err.code === 'EADDRINUSE') reject(new UiListenFailed(`${where} is already in use (another wgmesh ui?): stop that, or give another -http-bind-port`));
        else if (err.code === 'EACCES') reject(new UiListenFailed(`not allowed to listen on ${where}: ports below 1024 need root; give -http-bind-port 1024 or above`));
        else if (err.code === 'EADDRNOTAVAIL') reject(new UiListenFailed(`${host} is not an address of this machine: give one of its addresses as -http-bind-addr`));
        else reject(err);
      };
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    const latest = this.components.data.latest();
    this.nodesKey = latest ? nodeListKey(latest) : undefined;
    this.unsubscribe = this.components.data.subscribe((e) => this.onData(e));
    this.keepAlive = setInterval(() => this.broadcastEvent(': keep-alive\n\n'), this.init.keepAliveMs);
  }

  /** The port it listens on (the one asked for, or the one given for port 0). */
  port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : this.init.port;
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    clearInterval(this.keepAlive);
    clearInterval(this.rttTimer);
    for (const res of this.events) res.end();
    for (const ws of this.sockets) ws.close();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.open) s.destroy();
    await closed;
  }

  // -------------------------------------------------------------------------------------------

  private onData(e: SourceEvent): void {
    if (e.kind === 'error') {
      this.broadcastEvent(sse('unreachable', { message: e.message }));
      return;
    }
    if (this.events.size > 0) this.broadcastEvent(sse('status', e.status));
    const key = nodeListKey(e.status);
    if (key !== this.nodesKey) {
      this.nodesKey = key;
      const update = JSON.stringify(originalUpdate());
      for (const ws of this.sockets) ws.send(update, MAX_CLIENT_BACKLOG_BYTES);
    }
  }

  private broadcastEvent(text: string): void {
    for (const res of this.events) {
      // A page that stopped reading (a suspended tab, a stuck client) is dropped rather than
      // buffered for without limit; a live page's EventSource reconnects on its own.
      if (res.writableLength > MAX_CLIENT_BACKLOG_BYTES) {
        this.events.delete(res);
        res.destroy();
      } else res.write(text);
    }
  }

  /** Whether the request may be answered; if not, it has been. */
  private admit(req: IncomingMessage, res: ServerResponse | undefined, socket?: Socket): boolean {
    const refuse = (status: number, message: string, headers: Record<string, string> = {}) => {
      if (res) {
        res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', ...headers });
        res.end(message + '\n');
      } else {
        socket?.end(`HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : 'Forbidden'}\r\nConnection: close\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
      }
      return false;
    };
    // Bound to loopback without a token, a page elsewhere that renamed itself to 127.0.0.1 (DNS
    // rebinding) would be same-origin; its requests still carry its own name as Host.
    if (!this.init.token && isLoopback(this.init.host) && !isLoopback(hostName(req.headers.host ?? ''))) {
      return refuse(403, 'wgmesh ui answers only requests to a loopback address (127.0.0.1, localhost)');
    }
    if (this.init.token && !this.authorized(req.headers.authorization)) {
      return refuse(401, 'wgmesh ui needs its token: Authorization: Bearer TOKEN, or basic auth with the token as password', { 'WWW-Authenticate': 'Basic realm="wgmesh ui", charset="UTF-8"' });
    }
    return true;
  }

  private authorized(header: string | undefined): boolean {
    const token = this.init.token!;
    if (!header) return false;
    const bearer = /^Bearer\s+(.+)$/i.exec(header);
    if (bearer) return same(bearer[1]!.trim(), token);
    const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header.trim());
    if (basic) {
      const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      return colon >= 0 && same(decoded.slice(colon + 1), token);
    }
    return false;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    if (!this.admit(req, res)) return;
    if (req.method !== 'GET') {
      res.writeHead(405, { ...SECURITY_HEADERS, Allow: 'GET', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('wgmesh ui is read-only: GET only\n');
      return;
    }
    const path = pathOf(req.url);
    if (path === undefined) {
      res.writeHead(400, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('bad request target: give a path such as /api/nodes\n');
      return;
    }
    const asset = this.components.assets.get(path === '/index.html' ? '/' : path);
    if (asset) {
      res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': asset.type, 'Content-Length': asset.body.length });
      res.end(asset.body);
      return;
    }
    const data = this.components.data;
    switch (path) {
      case '/api/nodes':
      case '/api/mesh': {
        const status = data.latest();
        if (!status) return json(res, 503, { error: data.lastError() ?? 'no status from the node yet' });
        return json(res, 200, path === '/api/nodes' ? originalNodes(status) : originalMesh(status));
      }
      case '/api/v1/status':
        data.info().then((s) => json(res, 200, s), (err: Error) => json(res, 503, { error: err.message }));
        return;
      case '/api/v1/rtt':
        data.rtt().then((m) => json(res, 200, m), (err: Error) => json(res, 503, { error: err.message }));
        return;
      case '/api/v1/events':
        this.openEvents(req, res);
        return;
      case '/api/updates':
        res.writeHead(426, { ...SECURITY_HEADERS, Upgrade: 'websocket', 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('/api/updates is a websocket\n');
        return;
      default:
        res.writeHead(404, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('not found\n');
    }
  }

  /** Server-sent events for the page: the status on every change, the RTT matrix every few seconds. */
  private openEvents(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive' });
    res.write('retry: 1000\n\n');
    this.events.add(res);
    const latest = this.components.data.latest();
    const error = this.components.data.lastError();
    if (latest) res.write(sse('status', latest));
    if (error) res.write(sse('unreachable', { message: error }));
    if (this.lastRtt) res.write(sse('rtt', this.lastRtt));
    if (this.events.size === 1) {
      void this.refreshRtt();
      this.rttTimer = setInterval(() => void this.refreshRtt(), this.init.rttIntervalMs);
    }
    req.on('close', () => {
      this.events.delete(res);
      if (this.events.size === 0) clearInterval(this.rttTimer);
    });
  }

  private async refreshRtt(): Promise<void> {
    try {
      this.lastRtt = await this.components.data.rtt();
      this.broadcastEvent(sse('rtt', this.lastRtt));
    } catch {
      // The status stream reports an unreachable node; the page keeps the last matrix.
    }
  }

  /** `head`: what the client sent after the handshake in the same packet (its first frames). */
  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    if (!this.admit(req, undefined, socket)) return;
    const path = pathOf(req.url);
    const key = req.headers['sec-websocket-key'];
    if (path !== '/api/updates' || req.method !== 'GET' || String(req.headers.upgrade).toLowerCase() !== 'websocket' || !validKey(key) || req.headers['sec-websocket-version'] !== '13') {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nSec-WebSocket-Version: 13\r\n\r\n');
      return;
    }
    // A page of another site may open a websocket here (browsers do not apply CORS to them): only
    // this server's own pages may.
    const origin = req.headers.origin;
    if (origin !== undefined && hostOf(origin) !== (req.headers.host ?? '').toLowerCase()) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
      return;
    }
    socket.write(['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${acceptKey(key.trim())}`, '', ''].join('\r\n'));
    const ws = new WebSocketConnection(socket, () => this.sockets.delete(ws));
    this.sockets.add(ws);
    ws.receiveHead(head);
  }
}

/**
 * The path of a request target; undefined for one that is no URL path ("//", "/\\", "//[": the
 * WHATWG parser takes them for an authority and throws, which in a request handler ends the process).
 */
function pathOf(target: string | undefined): string | undefined {
  try {
    return new URL(target ?? '/', 'http://ui').pathname;
  } catch {
    return undefined;
  }
}

function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).host.toLowerCase();
  } catch {
    return undefined;
  }
}

function same(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
