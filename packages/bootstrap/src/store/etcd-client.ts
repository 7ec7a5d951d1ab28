/**
 * The etcd3 client as the store uses it: TLS files, a deadline on every request, and one mapping
 * of the client's failures onto StoreUnavailable (etcd unreachable, no leader, too slow).
 */
import { Etcd3, isRecoverableError, GRPCDeadlineExceededError, type IOptions } from 'etcd3';
import { StoreUnavailable } from '../errors.js';

export interface EtcdConnectInit {
  /** Client URLs, http://host:2379 or https://host:2379 with TLS. */
  readonly endpoints: readonly string[];
  /** PEM: the CA that signed etcd's server certificates; turns TLS on. */
  readonly caCert?: string | Buffer;
  /** PEM: a client certificate and its key, when etcd requires client certificates. */
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  /** Deadline of one request to one endpoint (the client retries another endpoint after it). */
  readonly requestTimeoutMs: number;
}

export function connectEtcd(init: EtcdConnectInit): Etcd3 {
  if ((init.cert === undefined) !== (init.key === undefined)) throw new Error('etcd TLS: give both a client certificate and its key, or neither');
  if (init.cert !== undefined && init.caCert === undefined) throw new Error('etcd TLS: a client certificate needs the CA certificate (caCert) too');
  const asBuffer = (pem: string | Buffer) => (typeof pem === 'string' ? Buffer.from(pem) : pem);
  const options: IOptions = {
    hosts: [...init.endpoints],
    dialTimeout: init.requestTimeoutMs,
    grpcOptions: {
      // gRPC's default backoff grows to 2 minutes: a bootstrap cut off from etcd for a while would
      // stay refusing joins that long after etcd is back. Retry a lost connection within seconds.
      'grpc.initial_reconnect_backoff_ms': 250,
      'grpc.max_reconnect_backoff_ms': 2_000,
      // A connection that died silently (a firewall dropping packets) is found by keepalive pings;
      // etcd accepts them every 5 s at most (--grpc-keepalive-min-time).
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.keepalive_permit_without_calls': 1,
    },
    // Streams (watches) run as long as they run; every other call gets a deadline.
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + init.requestTimeoutMs }),
  };
  if (init.caCert !== undefined) {
    options.credentials = {
      rootCertificate: asBuffer(init.caCert),
      ...(init.cert !== undefined ? { certChain: asBuffer(init.cert), privateKey: asBuffer(init.key!) } : {}),
    };
  }
  return new Etcd3(options);
}

/** etcd answers these when it has no leader or cannot commit in time: unavailable, like no answer. */
const UNAVAILABLE_MESSAGES = /etcdserver: (request timed out|leader changed|no leader|too many requests|server stopped|not capable)|unhealthy cluster/i;

/** Whether a failure of the etcd3 client means "etcd cannot be reached now" (as opposed to a refused request). */
export function isUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return (
    isRecoverableError(err) ||
    err instanceof GRPCDeadlineExceededError ||
    (err as { isBrokenCircuitError?: boolean }).isBrokenCircuitError === true ||
    UNAVAILABLE_MESSAGES.test(err.message)
  );
}

/** Runs one store operation with an overall deadline; unavailability becomes StoreUnavailable. */
export async function storeCall<T>(endpoints: readonly string[], timeoutMs: number, operation: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StoreUnavailable(endpoints, `no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([operation(), timeout]);
  } catch (err) {
    if (isUnavailable(err)) throw new StoreUnavailable(endpoints, (err as Error).message.split('\n')[0]!);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
