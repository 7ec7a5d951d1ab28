import type { Logger } from '@wgmesh/agent/log';
import type { WgDeviceState } from '@wgmesh/agent/wg/types';

/** What the progress display follows: a node's (or an Agent's) 'step' events and its device. */
export interface ProgressSource {
  on(event: 'step', listener: (step: { name: string; detail: string }) => void): unknown;
  off(event: 'step', listener: (step: { name: string; detail: string }) => void): unknown;
  /** Undefined until the node has made its driver. */
  readonly driver: { read(): Promise<Pick<WgDeviceState, 'peers'>> } | undefined;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/**
 * Shows `join`'s start-up steps: on a terminal a spinner and a line per finished step, otherwise
 * plain log lines. Returns a function that ends it.
 */
export function showJoinProgress(agent: ProgressSource, logger: Logger, out: NodeJS.WriteStream = process.stderr): { waitForHandshakes(timeoutMs: number): Promise<void>; end(): void } {
  const tty = out.isTTY === true;
  let current = 'discovering endpoints';
  let frame = 0;
  const draw = () => {
    if (tty) out.write(`\r\x1b[2K${FRAMES[frame++ % FRAMES.length]} ${current}`);
  };
  const timer = tty ? setInterval(draw, 80) : undefined;
  const NEXT: Record<string, string> = { endpoints: 'joining the mesh', joined: 'creating the interface', interface: 'configuring peers', peers: 'waiting for handshakes' };
  const onStep = ({ name, detail }: { name: string; detail: string }) => {
    if (tty) out.write(`\r\x1b[2K✔ ${name.padEnd(10)} ${detail}\n`);
    else logger.info(`${name}: ${detail}`);
    current = NEXT[name] ?? current;
    draw();
  };
  agent.on('step', onStep);
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    agent.off('step', onStep);
    if (timer) clearInterval(timer);
    if (tty) out.write('\r\x1b[2K');
  };
  return {
    end,
    /** Until every peer has shaken hands, or the timeout: reports how many did. */
    async waitForHandshakes(timeoutMs: number) {
      const deadline = Date.now() + timeoutMs;
      let done = 0;
      let total = 0;
      for (;;) {
        const peers = (await agent.driver?.read().then((d) => d.peers, () => [])) ?? [];
        total = peers.length;
        done = peers.filter((p) => p.latestHandshakeMs > 0).length;
        current = `waiting for handshakes (${done}/${total})`;
        if (ended || done === total || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      if (ended) return;
      onStep({ name: 'handshakes', detail: done === total ? `${done} of ${total} peers reached` : `${done} of ${total} peers reached so far (the rest may still be starting)` });
      end();
    },
  };
}
