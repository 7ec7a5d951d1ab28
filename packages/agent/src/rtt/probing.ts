import { silentLogger, type Logger } from '../log.js';
import { EchoResponder } from './echo.js';
import { RttProber } from './prober.js';

/**
 * A node's RTT measurement: the echo on its own mesh IP (which peers probe) and the prober of its
 * peers. Started once the interface has its address; the echo follows the address when it moves.
 */
export class RttProbing {
  readonly prober: RttProber;
  private responder: EchoResponder | undefined;
  private readonly logger: Logger;

  constructor(private readonly port: number, logger?: Logger) {
    this.logger = logger ?? silentLogger();
    this.prober = new RttProber({ logger: this.logger }, { port });
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
