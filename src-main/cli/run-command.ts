// `run`: start the servers and keep them up until SIGINT/SIGTERM, with one status line per change. When the
// relay wants a sign-in, a terminal user is offered one on the spot (browser, or a pasted token); without
// a terminal (a service, CI) the gateway stops with one line saying what to do.
import { createInterface } from 'node:readline/promises';
import { Writable } from 'node:stream';

import open from 'open';

import { login } from '../core/auth/login.js';
import { StateFileTokenStore } from '../core/auth/token-store.js';
import { logFilePath } from '../core/config/paths.js';
import { errorMessage } from '../core/errors.js';
import type { Gateway } from '../core/gateway.js';
import type { Logger } from '../core/logging/log-hub.js';
import { watchParent } from '../core/parent-watch.js';
import { cliLogs, type CommonOptions, createGateway, killOnExit } from './cli-support.js';
import { EXIT } from './exit-codes.js';
import { reportGateway } from './gateway-report.js';

const out = (line: string) => process.stdout.write(`${line}\n`);

export async function runCommand(options: CommonOptions & Record<string, unknown>): Promise<void> {
  const logs = cliLogs(options.logLevel);
  let gateway = await createGateway(options, logs);
  killOnExit(gateway);
  const interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY);

  let stopping: Promise<void> | undefined;
  const stop = (reason: string, code: number) => {
    if (stopping) {
      out('Stopping now.');
      void gateway.servers.kill().finally(() => process.exit(130));
      return;
    }
    out(`${reason}: stopping the servers… (press Ctrl+C again to force)`);
    stopping = gateway.close().then(() => {
      out('Stopped.');
      process.exitCode = code;
      // Normally nothing is left and the process ends by itself; this only guards against a stray handle.
      setTimeout(() => process.exit(code), 3000).unref();
    });
  };
  process.on('SIGINT', () => stop('SIGINT', EXIT.ok));
  process.on('SIGTERM', () => stop('SIGTERM', EXIT.ok));
  process.on('SIGHUP', () => stop('SIGHUP', EXIT.ok));
  // npm, a launcher or a service manager that ends without passing a signal on must not leave us running.
  watchParent((parent) => stop(`The process that started it (pid ${parent}) ended`, EXIT.ok));
  process.on('uncaughtException', (error) => {
    logs.logger('cli').error('unexpected error:', error);
    stop(`Unexpected error (${errorMessage(error)})`, EXIT.failure);
  });

  const launch = async (current: Gateway, first: boolean) => {
    reportGateway(current, out);
    current.on('state', (state) => {
      if (state.state !== 'needs-login' || stopping) return;
      if (!interactive) {
        out('Run `mcpassistant-gateway login` (or set AGENT_JWT), then start the gateway again.');
        return stop('Sign-in needed', EXIT.notSignedIn);
      }
      void signIn(current, logs.logger('login')).then(async (signedIn) => {
        if (!signedIn || stopping) return stop('No sign-in', EXIT.notSignedIn);
        // Start over with the new token: the settings are read again, the servers restart.
        await current.close();
        gateway = await createGateway(options, logs);
        killOnExit(gateway);
        await launch(gateway, false);
      });
    });
    if (first) {
      out(`mcpassistant-gateway: config ${current.configFile.path}`);
      out(`Log file: ${logFilePath()}`);
    }
    await current.start();
    if (!current.servers.list().length)
      out(`No servers in ${current.configFile.path}: add some under "mcpServers".`);
    if (first) out('Running. Press Ctrl+C to stop.');
  };
  try {
    await launch(gateway, true);
  } catch (error) {
    // The servers may be up already (the local endpoint's port failed, say): they must not outlive us. A
    // failure to close is logged; the error the user sees stays the first one.
    await gateway
      .close()
      .catch((closeError: unknown) => logs.logger('cli').error('closing failed:', closeError));
    throw error;
  }
}

/** Asks a terminal user to sign in now: in the browser, or by pasting a token. Resolves whether they did. */
async function signIn(gateway: Gateway, log: Logger): Promise<boolean> {
  const settings = gateway.settings;
  const store = new StateFileTokenStore(settings.paths.state.path);
  const base =
    settings.values.remoteServerBaseUrl ??
    settings.values.remoteWebsocketUrl?.replace(/^ws/, 'http').replace(/\/connect\/?$/, '');
  for (;;) {
    const answer = (await ask('Sign in now? [b]rowser, [p]aste a token, or [q]uit: ')).trim().toLowerCase();
    if (answer === 'q' || answer === 'quit') return false;
    if (answer === 'p' || answer === 'paste') {
      const token = (await ask('Token (hidden): ', true)).trim();
      if (!token) continue;
      await store.save({ token, relay: base, authMode: 'pasted' });
      out(`Saved the token in ${settings.paths.state.path} (mode 600).`);
      return true;
    }
    if ((answer === 'b' || answer === 'browser' || answer === '') && base) {
      try {
        const tokens = await login({
          relay: new URL(base),
          capabilities: settings.values.capabilities,
          openUrl: async (url) => void (await open(url.href)),
          say: out,
          log,
        });
        await store.save(tokens);
        out(`Signed in as "${tokens.subject ?? 'unknown'}".`);
        return true;
      } catch (error) {
        out(`Sign-in failed: ${errorMessage(error)}`);
      }
    }
  }
}

/**
 * One line from the terminal. `hidden`: nothing is echoed (a token must not stay on the screen or in the
 * scrollback): readline echoes to a stream that drops everything, the prompt goes to stdout directly.
 */
async function ask(prompt: string, hidden = false): Promise<string> {
  const output = hidden ? new Writable({ write: (_chunk, _encoding, done) => done() }) : process.stdout;
  if (hidden) process.stdout.write(prompt);
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  try {
    return await rl.question(hidden ? '' : prompt);
  } finally {
    rl.close();
    if (hidden) process.stdout.write('\n');
  }
}
