import { silentLogger, type Logger } from '../log.js';
import { EchoResponder } from './echo.js';
import { RTT_REST_DEFAULTS, RttProber, type RttProberInit } from './prober.js';

/**
 * A node's RTT measurement: the echo on its own mesh IP (which peers probe) and the prober of its
 * peers. Started once the interface has its address; the echo follows the address when it moves.
 */
export class RttProbing {
  readonly prober: RttProber;
  private responder: EchoResponder | undefined;
  private readonly logger: Logger;

  /**
   * The prober runs in rest mode (RttProberInit.restIntervalMs): peers nothing asks about are probed
   * once every 30 s; new ones, busy ones, silent ones and all while fresh figures are wanted, every second.
   */
  constructor(private readonly port: number, logger?: Logger, init: Omit<RttProberInit, 'port'> = {}) {
    this.logger = logger ?? silentLogger();
    this.prober = new RttProber(
      { logger: this.logger, echoPackets: (meshIp) => this.responder?.packetsWith(meshIp) ?? 0 },
      { restIntervalMs: RTT_REST_DEFAULTS.restIntervalMs, ...init, port },
    );
  }

  async start(meshIp: string): Promise<void> {
    await this.bindEcho(meshIp);
    await this.prober.start();
  }

  /** The node's mesh IP changed: the echo follows it (a failure is logged; probing goes on). */
  async moveTo(meshIp: string): Promise<void> {
    await this.bindEcho(meshIp).catch((err: Error) => this.logger.error('RTT echo cannot bind the new mesh IP', { meshIp, err: err.message }));
  }

  async stop(): Promise<void> {
    await this.prober.stop();
    await this.responder?.stop();
    this.responder = undefined;
  }

  private async bindEcho(meshIp: string): Promise<void> {
    await this.responder?.stop();
    this.responder = new EchoResponder({ logger: this.logger }, { bindAddr: meshIp, port: this.port });
    await this.responder.start();
  }
}
