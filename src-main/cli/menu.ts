// `menu`, and `mcpassistant-gateway` with no arguments in a terminal: a prompt of slash commands over the
// same functions as the commands (config, login, logout) and one Gateway at a time, started in the background
// (/start) or the foreground (/run). While a gateway runs, Ctrl+C stops it and comes back to the prompt; at
// an idle prompt it asks for /quit, and a second Ctrl+C quits. No child process outlives the menu.
import { clearLine, createInterface, cursorTo, type Interface } from 'node:readline';

import { DEFAULT_CALLBACK_PORT } from '../core/auth/login.js';
import { logFilePath, serverLogDir } from '../core/config/paths.js';
import { findSettingKey, resolveSettings, SETTING_KEYS, SETTINGS } from '../core/config/settings.js';
import { errorMessage, GatewayError } from '../core/errors.js';
import { type Gateway, PRODUCT } from '../core/gateway.js';
import { type LogEntry, LogHub } from '../core/logging/log-hub.js';
import { REDACTED } from '../core/logging/redactor.js';
import { watchParent } from '../core/parent-watch.js';
import { loginCommand, logoutCommand } from './auth-commands.js';
import { createGateway } from './cli-support.js';
import { configShowCommand, configUnsetCommand, saveSettingsCommand } from './config-commands.js';
import { EXIT } from './exit-codes.js';
import { linkSummary, reportGateway } from './gateway-report.js';
import { completeMenuLine, helpText, menuWording, suggestCommand } from './menu-commands.js';
import { statusLine } from './status-line.js';

export interface MenuOptions {
  config?: string;
  state?: string;
}

const PROMPT = 'mcpassistant> ';

/** Opens the menu on this process's terminal; sets the exit code when the user quits. */
export async function menuCommand(options: MenuOptions): Promise<void> {
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    throw new GatewayError(
      'usage',
      'the menu needs a terminal (stdin and stdout); run a command instead, e.g. `mcpassistant-gateway run` (see --help).',
    );
  }
  process.exitCode = await new Menu(options, process.stdin, process.stdout).run();
}

/** A gateway the menu started, and how far along its stop is. */
interface Running {
  readonly gateway: Gateway;
  readonly started: Promise<{ createdConfig: boolean }>;
  readonly stopped: Promise<void>;
  readonly markStopped: () => void;
  detach: () => void;
  stopping?: Promise<void>;
}

const SOURCE_TEXT: Record<string, string> = {
  flag: 'flag',
  environment: 'environment (wins over /set)',
  '.env': '.env (wins over /set)',
  state: 'saved with /set',
  login: 'saved by /login',
  'login-or-set': 'saved by /login or /set',
  default: 'default',
  unset: 'not set',
};

class Menu {
  readonly #logs = new LogHub({ level: 'info', file: logFilePath(), serverLogDir: serverLogDir() });
  readonly #log = this.#logs.logger('menu');
  readonly #rl: Interface;
  readonly #unsubscribeLogs: () => void;
  readonly #unwatchParent: () => void;
  readonly #onSigint = () => this.#interrupt();
  readonly #onTerminate = () => void this.#quit(EXIT.ok);
  readonly #onUncaught = (error: Error) => {
    // main.ts rethrows stdout errors other than EPIPE: a closed terminal arrives here as EIO.
    if (isTerminalGone(error)) return this.#lostTerminal(error);
    this.#log.error('unexpected error:', error);
    this.#say(`Unexpected error (${errorMessage(error)}): quitting.`);
    void this.#quit(EXIT.failure);
  };
  #running: Running | undefined;
  /** A command is being carried out (the prompt comes back when it ends). */
  #busy = false;
  /** /run: the gateway owns the terminal until Ctrl+C. */
  #foreground = false;
  #promptShown = false;
  /** The terminal was closed: nothing can be written or read any more. */
  #terminalGone = false;
  /** Ctrl+C was pressed once with nothing to stop: the next one quits. */
  #armed = false;
  #showLogs = false;
  #quitting: Promise<void> | undefined;
  #done: (code: number) => void = () => undefined;

  constructor(
    private readonly options: MenuOptions,
    input: NodeJS.ReadableStream,
    private readonly output: NodeJS.WriteStream,
  ) {
    this.#rl = createInterface({
      input,
      output,
      prompt: PROMPT,
      terminal: true,
      completer: completeMenuLine,
      removeHistoryDuplicates: true,
    });
    this.#rl.on('line', (line) => this.#onLine(line));
    // In raw mode Ctrl+C reaches readline as a key, not as a signal.
    this.#rl.on('SIGINT', () => this.#interrupt());
    this.#rl.on('close', () => void this.#quit(EXIT.ok));
    input.on('error', (error: Error) => this.#lostTerminal(error));
    output.on('error', (error: Error) => this.#lostTerminal(error));
    this.#unsubscribeLogs = this.#logs.subscribe((entry) => {
      if (entry.level === 'error' || (this.#showLogs && entry.level !== 'debug')) this.#say(logLine(entry));
    });
    // A SIGINT from outside (kill -INT) means what Ctrl+C means.
    process.on('SIGINT', this.#onSigint);
    process.on('SIGTERM', this.#onTerminate);
    process.on('SIGHUP', this.#onTerminate);
    process.on('uncaughtException', this.#onUncaught);
    // A launcher that ends without passing a signal on (a killed `sh -c`) must not leave the menu running.
    this.#unwatchParent = watchParent(() => void this.#quit(EXIT.ok));
    // The last resort on any exit path: no server outlives the menu.
    process.on('exit', () => this.#killServers());
  }

  run(): Promise<number> {
    const done = new Promise<number>((resolve) => (this.#done = resolve));
    this.#write(
      `${PRODUCT.name} ${PRODUCT.version}: type /help for the commands (Tab completes them), /quit to leave.`,
    );
    this.#showPrompt();
    return done;
  }

  #write(text: string): void {
    if (!this.#terminalGone) this.output.write(`${menuWording(text)}\n`);
  }

  /** The terminal hung up (reads and writes fail with EIO): stop the servers and end, saying nothing. */
  #lostTerminal(error: Error): void {
    if (this.#terminalGone) return;
    this.#terminalGone = true;
    this.#log.warn(`the terminal went away (${errorMessage(error)}): stopping`);
    void this.#quit(EXIT.ok);
  }

  /** Prints above the prompt when it is on screen, keeping what the user was typing. */
  #say(text: string): void {
    if (!this.#promptShown || this.#quitting || this.#terminalGone) return this.#write(text);
    clearLine(this.output, 0);
    cursorTo(this.output, 0);
    this.#write(text);
    this.#rl.prompt(true);
  }

  #showPrompt(): void {
    if (this.#quitting) return;
    this.#promptShown = true;
    this.#rl.prompt();
  }

  #onLine(line: string): void {
    this.#promptShown = false;
    this.#armed = false;
    const text = line.trim();
    if (this.#quitting) return;
    if (this.#busy) {
      if (/^\/?quit$/i.test(text)) return void this.#quit(EXIT.ok);
      if (text) {
        this.#write(
          this.#foreground
            ? '(Running in the foreground: press Ctrl+C to stop it and return to the menu.)'
            : '(Busy: wait for the command to finish, or press Ctrl+C twice to quit.)',
        );
      }
      return;
    }
    if (!text) return this.#showPrompt();
    this.#busy = true;
    void this.#execute(text).finally(() => {
      this.#busy = false;
      this.#showPrompt();
    });
  }

  async #execute(text: string): Promise<void> {
    const [word = '', ...args] = text.split(/\s+/);
    const name = (word.startsWith('/') ? word : `/${word}`).toLowerCase();
    try {
      switch (name) {
        case '/help':
          return this.#write(`Commands:\n${helpText()}`);
        case '/login':
          await loginCommand({
            ...this.options,
            relay: args[0],
            callbackPort: DEFAULT_CALLBACK_PORT,
            browser: true,
          });
          return await this.#restart('to use the new sign-in');
        case '/logout':
          return await logoutCommand(this.options);
        case '/show':
          return await configShowCommand(this.options);
        case '/set':
          return await this.#set(text);
        case '/unset':
          if (!args.length) return this.#write('Usage: /unset KEY…, e.g. /unset request_timeout_seconds.');
          await configUnsetCommand(args, this.options);
          return this.#keepsOldValue();
        case '/local':
          return await this.#useLocal();
        case '/settings':
          return await this.#settings();
        case '/start':
          return void (await this.#start('background'));
        case '/stop':
          if (!this.#running) return this.#write('Not running.');
          return await this.#stop();
        case '/status':
          return this.#status();
        case '/logs':
          return this.#logsCommand(args[0]);
        case '/run':
          return await this.#runForeground();
        case '/quit':
          return await this.#quit(EXIT.ok);
        default: {
          const suggestion = suggestCommand(name);
          return this.#write(
            `Unknown command ${word}.${suggestion ? ` Did you mean ${suggestion}?` : ''} Type /help for the list.`,
          );
        }
      }
    } catch (error) {
      if (!(error instanceof GatewayError)) this.#log.error(`${name} failed:`, error);
      this.#write(`error: ${errorMessage(error)}`);
    }
  }

  async #set(text: string): Promise<void> {
    const match = /^\S+\s+(\S+)\s+(.+)$/.exec(text);
    if (!match) {
      return this.#write(
        'Usage: /set KEY VALUE, e.g. /set request_timeout_seconds 60 (/settings lists the keys).',
      );
    }
    const [, name = '', raw = ''] = match;
    const key = findSettingKey(name);
    if (!key) return this.#write(`There is no setting "${name}". /settings lists them.`);
    // A value may be quoted, as on a command line.
    const value = /^(["']).*\1$/.test(raw) ? raw.slice(1, -1) : raw;
    await saveSettingsCommand(this.options, { [key]: value }, 'state-key');
    this.#keepsOldValue();
  }

  #keepsOldValue(): void {
    if (this.#running) this.#write('The running servers keep the old value until /stop and /start.');
  }

  /** /local: forget the relay saved in the state, so the gateway serves the local endpoint again. */
  async #useLocal(): Promise<void> {
    await saveSettingsCommand(this.options, {
      remoteServerBaseUrl: undefined,
      remoteWebsocketUrl: undefined,
    });
    const settings = await resolveSettings({
      cwd: process.cwd(),
      env: process.env,
      configPath: this.options.config,
      statePath: this.options.state,
    });
    const relay = settings.values.remoteServerBaseUrl ?? settings.values.remoteWebsocketUrl;
    if (relay) {
      const origin =
        settings.origins.remoteServerBaseUrl.source !== 'unset'
          ? settings.origins.remoteServerBaseUrl
          : settings.origins.remoteWebsocketUrl;
      return this.#write(
        `The relay ${relay} still comes from ${origin.source === '.env' ? (origin.detail ?? '.env') : 'the environment'}; remove it there to use the local endpoint.`,
      );
    }
    this.#write(
      'No relay is configured now: the gateway serves the local endpoint. /login RELAY_URL goes back.',
    );
    await this.#restart('to serve the local endpoint');
  }

  /** Restarts a gateway the menu runs, so it reads the settings again; says nothing when none runs. */
  async #restart(why: string): Promise<void> {
    if (!this.#running) return;
    this.#write(`Restarting the servers ${why}…`);
    await this.#stop({ quiet: true });
    await this.#start('background');
  }

  async #settings(): Promise<void> {
    const resolved = await resolveSettings({
      cwd: process.cwd(),
      env: process.env,
      configPath: this.options.config,
      statePath: this.options.state,
    });
    const rows = SETTING_KEYS.flatMap((key) => {
      const d: (typeof SETTINGS)[typeof key] = SETTINGS[key];
      const stateKey: string | undefined = d.state;
      if (!stateKey) return [];
      const value = resolved.values[key];
      const origin = resolved.origins[key];
      const shown =
        value === undefined
          ? '-'
          : 'secret' in d && d.secret
            ? REDACTED
            : Array.isArray(value)
              ? value.join(',')
              : String(value);
      // /login writes the token, and the subject and relay with it; the state file does not say who wrote what.
      const source =
        origin.source !== 'state' || !resolved.state['jwt_token']
          ? origin.source
          : key === 'agentJwt'
            ? 'login'
            : key === 'subject' || key === 'remoteServerBaseUrl'
              ? 'login-or-set'
              : origin.source;
      const from =
        origin.source === 'derived' ? `derived from ${origin.detail}` : (SOURCE_TEXT[source] ?? '');
      return [{ key: stateKey, value: shown, from, description: d.description }];
    });
    const keyWidth = Math.max(...rows.map((r) => r.key.length));
    const valueWidth = Math.min(40, Math.max(...rows.map((r) => r.value.length)));
    for (const row of rows) {
      this.#write(`  ${row.key.padEnd(keyWidth)}  ${row.value.padEnd(valueWidth)}  ${row.from}`);
      this.#write(`  ${''.padEnd(keyWidth)}  ${row.description}`);
    }
    this.#write(
      `/set KEY VALUE saves one in ${resolved.paths.state.path}; /show tells where each comes from.`,
    );
  }

  /** Builds and starts a gateway; undefined when it was stopped before it was up. */
  async #start(mode: 'background' | 'foreground'): Promise<Running | undefined> {
    if (this.#running) {
      this.#write('Already running: /status shows it, /stop stops it.');
      return undefined;
    }
    const gateway = await createGateway({ ...this.options, logLevel: 'info' }, this.#logs);
    let markStopped: () => void = () => undefined;
    const stopped = new Promise<void>((resolve) => (markStopped = resolve));
    const running: Running = {
      gateway,
      started: gateway.start(),
      stopped,
      markStopped,
      detach: () => undefined,
    };
    this.#running = running;
    this.#write(`Starting the servers in ${gateway.configFile.path} (log file ${logFilePath()})…`);
    running.detach = reportGateway(gateway, (line) => this.#say(line));
    try {
      await running.started;
    } catch (error) {
      await this.#stop({ quiet: true });
      throw error;
    }
    if (running.stopping) return undefined;
    const count = gateway.servers.list().length;
    if (!count) this.#write(`No servers in ${gateway.configFile.path}: add some under "mcpServers".`);
    this.#write(
      mode === 'background'
        ? `Started ${count} server(s) in the background: /status shows them, /stop or Ctrl+C stops them.`
        : 'Running in the foreground. Press Ctrl+C to stop and return to the menu.',
    );
    return running;
  }

  async #runForeground(): Promise<void> {
    let running = this.#running;
    if (running) this.#write('Running in the foreground. Press Ctrl+C to stop and return to the menu.');
    else running = await this.#start('foreground');
    if (!running) return;
    this.#foreground = true;
    try {
      await running.stopped;
    } finally {
      this.#foreground = false;
    }
  }

  /** Stops the running gateway (after its start, if it is still starting); never rejects. */
  #stop({ reason, quiet = false }: { reason?: string; quiet?: boolean } = {}): Promise<void> {
    const running = this.#running;
    if (!running) return Promise.resolve();
    if (running.stopping) return running.stopping;
    const say = (text: string) => quiet || this.#say(text);
    say(
      reason
        ? `${reason}: stopping the servers… (press Ctrl+C again to force)`
        : 'Stopping the servers… (press Ctrl+C to force)',
    );
    running.stopping = (async () => {
      try {
        // ignore: a failed start is reported by the command that started it; here it only has to be over.
        await running.started.catch(() => undefined);
        await running.gateway.close();
        say('Stopped.');
      } catch (error) {
        this.#log.error('stopping the gateway failed:', error);
        this.#say(`error: stopping failed (${errorMessage(error)}); killing the servers.`);
        await running.gateway.servers.kill();
      } finally {
        running.detach();
        if (this.#running === running) this.#running = undefined;
        running.markStopped();
      }
    })();
    return running.stopping;
  }

  #status(): void {
    const running = this.#running;
    if (!running) return this.#write('Not running: /start or /run starts the servers in mcp.json.');
    const { gateway } = running;
    const state = gateway.state;
    this.#write(`Relay: ${linkSummary(state)}${running.stopping ? ' (stopping)' : ''}`);
    if (state.state === 'connected') {
      for (const [name, url] of Object.entries(state.endpoints)) this.#write(`  ${name}  ${url}`);
    }
    const servers = gateway.servers.list();
    if (!servers.length) return this.#write(`No servers in ${gateway.configFile.path}.`);
    const width = Math.max(12, ...servers.map((s) => s.name.length));
    for (const status of servers) this.#write(statusLine(status, width));
  }

  #logsCommand(arg: string | undefined): void {
    const wanted = arg?.toLowerCase();
    if (wanted !== 'on' && wanted !== 'off') {
      return this.#write(
        `Logs are ${this.#showLogs ? 'on' : 'off'} (errors always show). Usage: /logs on|off; the file is ${logFilePath()}.`,
      );
    }
    this.#showLogs = wanted === 'on';
    this.#write(
      this.#showLogs ? 'Logs on: info, warnings and errors show here.' : 'Logs off: only errors show here.',
    );
  }

  /** Ctrl+C: stop what runs; at an idle prompt, ask for /quit first and quit on the second press. */
  #interrupt(): void {
    const running = this.#running;
    if (running) {
      this.#armed = false;
      if (running.stopping) {
        this.#say('Stopping now.');
        void running.gateway.servers.kill();
        return;
      }
      void this.#stop({ reason: 'Ctrl+C' });
      return;
    }
    if (this.#quitting) return;
    if (this.#armed) return void this.#quit(EXIT.ok);
    if (this.#promptShown && this.#rl.line) {
      // Like a shell: Ctrl+C drops what was typed.
      this.#write('');
      this.#rl.write(null, { ctrl: true, name: 'e' });
      this.#rl.write(null, { ctrl: true, name: 'u' });
      return this.#showPrompt();
    }
    this.#armed = true;
    const hint = this.#busy
      ? '(A command is still running: press Ctrl+C again to quit.)'
      : '(To quit, type /quit or press Ctrl+C again.)';
    if (this.#promptShown) this.output.write('\n');
    this.#say(hint);
  }

  /** Stops any gateway, closes the prompt and resolves run() with `code`. */
  #quit(code: number): Promise<void> {
    this.#quitting ??= (async () => {
      this.#promptShown = false;
      await this.#stop();
      this.#unsubscribeLogs();
      this.#unwatchParent();
      this.#rl.close();
      process.off('SIGINT', this.#onSigint);
      process.off('SIGTERM', this.#onTerminate);
      process.off('SIGHUP', this.#onTerminate);
      process.off('uncaughtException', this.#onUncaught);
      // Normally nothing is left and the process ends by itself; this only guards against a stray handle
      // (a sign-in waiting for its browser, say).
      setTimeout(() => process.exit(code), 3000).unref();
      this.#done(code);
    })();
    return this.#quitting;
  }

  #killServers(): void {
    for (const pid of this.#running?.gateway.servers.pids() ?? []) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // ignore: already gone
      }
    }
  }
}

function isTerminalGone(error: Error): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'EIO' || code === 'EPIPE';
}

function logLine(entry: LogEntry): string {
  const time = new Date(entry.time).toISOString().slice(11, 23);
  return `${time} ${entry.level.padEnd(5)} [${entry.scope}] ${entry.message}`;
}
