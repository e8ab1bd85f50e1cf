// `ui`: the window in a browser. Starts the gateway as `run` does, serves the built renderer on 127.0.0.1
// with the control API over a token-guarded WebSocket (src-main/control/web-host.ts), and opens the page in
// the default browser — for Linux desktops without a tray, a headless machine reached over an SSH tunnel
// (`--no-open`, then open the printed address through `ssh -L`), and the browser tests.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import open from 'open';

import { ControlApi } from '../control/control-api.js';
import { WebHost } from '../control/web-host.js';
import { GatewayError } from '../core/errors.js';
import type { Logger } from '../core/logging/log-hub.js';
import { cliLogs, type CommonOptions, createGateway, killOnExit, settingFlags } from './cli-support.js';
import { EXIT } from './exit-codes.js';

const out = (line: string) => process.stdout.write(`${line}\n`);

/** dist/renderer, built by `vite build` (scripts/prepare.mjs) beside the compiled CLI. */
const RENDERER_DIR = fileURLToPath(new URL('../../renderer', import.meta.url));

export interface UiOptions extends CommonOptions {
  port: number;
  open: boolean;
}

/** The web host on `port`; a busy port is a usage error that names the fix. */
async function startHost(control: ControlApi, port: number, log: Logger): Promise<WebHost> {
  try {
    return await WebHost.start({ control, rendererDir: RENDERER_DIR, port, log });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    throw new GatewayError(
      'usage',
      `port ${port} on 127.0.0.1 is in use: choose another with --port, or leave it out for any free port.`,
    );
  }
}

export async function uiCommand(options: UiOptions & Record<string, unknown>): Promise<void> {
  if (!existsSync(`${RENDERER_DIR}/index.html`)) {
    throw new GatewayError(
      'usage',
      `the window is not built (${RENDERER_DIR} is missing): run \`node scripts/prepare.mjs\` (or \`npm run build\`) first.`,
    );
  }
  const logs = cliLogs(options.logLevel);
  // The browser window answers the relay's consent requests (issue 12).
  const gateway = await createGateway(options, logs, { answersConsent: true });
  killOnExit(gateway);
  const control = new ControlApi(gateway, {
    logs,
    openUrl: async (url) => void (await open(url.href)),
    openPath: async (path) => void (await open(path)),
    settingsInputs: { cwd: process.cwd(), env: process.env, flags: settingFlags(options) },
  });
  let host: WebHost | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (reason: string) => {
    if (stopping) {
      void gateway.servers.kill().finally(() => process.exit(130));
      return;
    }
    out(`${reason}: stopping… (press Ctrl+C again to force)`);
    stopping = (async () => {
      await host?.close();
      control.dispose();
      await gateway.close();
      out('Stopped.');
      process.exitCode = EXIT.ok;
      setTimeout(() => process.exit(EXIT.ok), 3000).unref();
    })();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGHUP', () => stop('SIGHUP'));

  try {
    host = await startHost(control, options.port, logs.logger('web-host'));
    await gateway.start();
  } catch (error) {
    await host?.close();
    await gateway.close();
    throw error;
  }
  out(`mcpassistant-gateway: config ${gateway.configFile.path}`);
  // The address carries this run's token: it goes to the terminal (the user needs it), never to the log.
  if (options.open) {
    try {
      await open(host.url.href);
      out(`Opened the window in your browser. If it did not appear, open ${host.url.href}`);
    } catch {
      out(`Open ${host.url.href} in your browser.`);
    }
  } else out(`Open ${host.url.href} in your browser.`);
  out('Running. Press Ctrl+C to stop.');
}
