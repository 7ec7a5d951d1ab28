import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { hostCommand, labDown, labKillNode, labUp, type LabState } from '@wgmesh/cli/lab';
import { e2eWgmeshCommand, labSkipReason } from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';

const LAB = 'wgtmx';
const SESSION = `wgmesh-info-${process.pid}`;
// A tmux server of this test's own: it starts with this process's environment (TSX_TSCONFIG_PATH
// for running the CLI from source, and CI=true under CI, which the dashboard must cope with)
// rather than whatever a long-running server has.
const SOCKET = `wgmesh-test-${process.pid}`;
const skip = (await labSkipReason({ wireguard: true })) ?? (await tmuxMissing());

async function tmuxMissing(): Promise<string | undefined> {
  return new Promise((resolve) => execFile('tmux', ['-V'], (err) => resolve(err ? 'needs tmux (make deps installs it)' : undefined)));
}

function tmux(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('tmux', ['-L', SOCKET, ...args], { env: { ...process.env, TERM: process.env.TERM || 'xterm-256color' } }, (err, stdout, stderr) => (err ? reject(new Error(`tmux ${args[0]}: ${stderr || err.message}`)) : resolve(stdout))));
}

/** Printed in the pane once `wgmesh info -watch` has exited, with its exit status. */
const EXITED = 'wgmesh-info-exited-with';

/** The dashboard's screen as a person would see it. */
const screen = () => tmux('capture-pane', '-p', '-t', SESSION);

describe('wgmesh info -watch in a real terminal (tmux), inside a lab host', { skip }, () => {
  let lab: LabState;

  before(async () => {
    await labDown({ name: LAB });
    ({ lab } = await labUp({ name: LAB, hosts: 4, wgmeshCommand: e2eWgmeshCommand() }));
    const command = hostCommand(lab, 'h1', ['wgmesh', 'info', '-watch']).map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    // The pane stays (dead) after the dashboard exits, with its exit status on the screen, so
    // "q quits" can see how it ended: tmux 3.3 leaves #{pane_dead_status} empty.
    await tmux('start-server', ';', 'set-option', '-g', 'remain-on-exit', 'on', ';',
      'new-session', '-d', '-s', SESSION, '-x', '160', '-y', '30', `${command}; echo "${EXITED} $?"`);
  });

  after(async () => {
    await tmux('kill-server').catch(() => {});
    await labDown({ name: LAB });
  });

  test('the live table lists every node', async () => {
    const text = await waitFor('the dashboard to show 4 nodes', async () => {
      const s = await screen();
      return /4 nodes/.test(s) && ['h1', 'h2', 'h3', 'h4'].every((h) => new RegExp(`^${h}\\b`, 'm').test(s)) ? s : undefined;
    }, 20_000, 200).catch(async (err: Error) => {
      throw new Error(`${err.message}; the screen shows:\n${await screen().catch((e: Error) => e.message)}`);
    });
    assert.match(text, /NODE\s+MESH IP\s+STATUS/);
    assert.match(text, /mesh lab/);
    for (const h of ['h2', 'h3', 'h4']) assert.match(text, new RegExp(`^${h}\\s+198\\.18\\.\\d+\\.\\d+\\s+alive`, 'm'));
  });

  test('it updates when a node leaves', async () => {
    await labKillNode(lab, 'h4', { signal: 'SIGTERM' });
    const text = await waitFor('the dashboard to drop h4', async () => {
      const s = await screen();
      return /3 nodes/.test(s) && !/^h4\b/m.test(s) ? s : undefined;
    }, 10_000, 200);
    assert.match(text, /^h3\s/m);
  });

  test('q quits, with exit status 0', async () => {
    // Any tmux error fails the test: the pane outlives the dashboard (remain-on-exit), so an error
    // here is not the dashboard quitting but the session or the server gone.
    assert.equal((await tmux('list-panes', '-t', SESSION, '-F', '#{pane_dead}')).trim(), '0', 'the dashboard runs before q');
    await tmux('send-keys', '-t', SESSION, 'q');
    await waitFor('the dashboard to exit', async () => (await tmux('list-panes', '-t', SESSION, '-F', '#{pane_dead}')).trim() === '1', 5_000, 100)
      .catch(async (err: Error) => {
        throw new Error(`${err.message}; the screen shows:\n${await screen()}`);
      });
    const text = await screen();
    assert.match(text, new RegExp(`^${EXITED} 0$`, 'm'), `the dashboard exited with status 0; the screen shows:\n${text}`);
  });
});
