/**
 * Types for the npm `stun` package (2.1, CommonJS, ships none): only the parts wgmesh uses.
 * Import it as `import stun from 'stun'`. The bootstrap's responder reaches this file with a
 * triple-slash reference, so there is one declaration of the module in the whole workspace (two
 * ambient declarations of one module would clash in the workspace-wide type-check).
 */
declare module 'stun' {
  import type { EventEmitter } from 'node:events';
  import type { Socket } from 'node:dgram';

  namespace stun {
    interface AddressValue {
      address: string;
      port: number;
      family: 'IPv4' | 'IPv6';
    }

    interface StunAttribute {
      readonly type: number;
      readonly value: unknown;
    }

    interface StunMessage {
      readonly type: number;
      readonly transactionId: Buffer;
      readonly count: number;
      isLegacy(): boolean;
      getAttribute(type: number): StunAttribute | undefined;
      hasAttribute(type: number): boolean;
    }

    /** An outgoing message (the package names every message it builds a "request"). */
    interface StunRequest extends StunMessage {
      setType(type: number): void;
      setTransactionId(transactionId: Buffer): boolean;
      /** Returns undefined when an attribute of this type is already present. */
      addAddress(address: string, port: number): StunAttribute | undefined;
      addXorAddress(address: string, port: number): StunAttribute | undefined;
      addSoftware(software: string): StunAttribute | undefined;
      addError(code: number, reason: string): StunAttribute | undefined;
      addUnknownAttributes(attributes: number[]): StunAttribute | undefined;
      addFingerprint(): boolean;
      toBuffer(): Buffer;
    }

    /** An incoming, decoded message. */
    interface StunResponse extends StunMessage {
      getAddress(): AddressValue | undefined;
      getXorAddress(): AddressValue | undefined;
      getError(): { code: number; reason: string } | undefined;
      getSoftware(): string | undefined;
    }

    /** Wraps a dgram socket: emits 'bindingRequest' / 'bindingResponse' / 'error'. */
    interface StunServer extends EventEmitter {
      /** False (and nothing sent) once closed, or when `message` is not a StunRequest. */
      send(message: StunRequest, port: number, address: string, callback?: (err: Error | null) => void): boolean;
      close(): void;
      listen(port: number, address?: string, callback?: () => void): void;
    }

    interface RequestOptions {
      /** A StunServer to send and receive on (it stays open afterwards). */
      server?: StunServer;
      socket?: Socket;
      message?: StunRequest;
      /** Initial retransmission timeout, ms (default 500). */
      timeout?: number;
      /** Largest retransmission timeout, ms (default Infinity). */
      maxTimeout?: number;
      /** Retransmissions before failing (default 6). */
      retries?: number;
    }

    interface StunError extends Error {
      /** The datagram (StunMessageError) or decoded message (StunResponseError) that caused it. */
      readonly packet: Buffer | StunMessage | undefined;
      readonly sender: { address: string; port: number } | undefined;
    }
    /** A STUN-looking datagram that failed to decode. */
    type StunMessageError = StunError;
    /** An error response arrived (its transaction id is not checked by the package). */
    interface StunResponseError extends StunError {
      readonly packet: StunResponse;
    }

    /** A class as a value: constructible, and usable with `instanceof`. */
    interface Constructor<T, A extends unknown[] = never[]> {
      new (...args: A): T;
      readonly prototype: T;
    }
  }

  const stun: {
    /** A Binding request to `host:port` (default port 3478); IPv4 only. */
    request(url: string, options?: stun.RequestOptions): Promise<stun.StunResponse>;
    createServer(options: { type: 'udp4' | 'udp6'; socket?: Socket }): stun.StunServer;
    createMessage(type: number, transactionId?: Buffer): stun.StunRequest;
    createTransaction(): Buffer;
    encode(message: stun.StunMessage): Buffer;
    /** Throws on malformed input. */
    decode(message: Buffer): stun.StunResponse;
    validateFingerprint(message: stun.StunMessage): boolean;
    StunServer: stun.Constructor<stun.StunServer, [socket: Socket]>;
    StunRequest: stun.Constructor<stun.StunRequest, []>;
    StunResponse: stun.Constructor<stun.StunResponse, []>;
    StunError: stun.Constructor<stun.StunError>;
    StunMessageError: stun.Constructor<stun.StunMessageError>;
    StunResponseError: stun.Constructor<stun.StunResponseError>;
    constants: {
      readonly STUN_BINDING_REQUEST: number;
      readonly STUN_BINDING_INDICATION: number;
      readonly STUN_BINDING_RESPONSE: number;
      readonly STUN_BINDING_ERROR_RESPONSE: number;
      readonly STUN_ATTR_MAPPED_ADDRESS: number;
      readonly STUN_ATTR_XOR_MAPPED_ADDRESS: number;
      readonly STUN_ATTR_SOFTWARE: number;
      readonly STUN_ATTR_FINGERPRINT: number;
      readonly STUN_ATTR_ERROR_CODE: number;
      readonly STUN_EVENT_BINDING_REQUEST: 'bindingRequest';
      readonly STUN_EVENT_BINDING_RESPONSE: 'bindingResponse';
      readonly STUN_EVENT_BINDING_ERROR_RESPONSE: 'bindingError';
    };
  };

  export = stun;
}
