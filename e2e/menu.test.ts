// The interactive menu as a user meets it: the built CLI on a real pseudo-terminal (node-pty), driven by
// keystrokes, read from what it draws; real servers, in a sandboxed home directory.
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { type IPty, spawn } from '@lydell/node-pty';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { CLI, createSandbox, descendants, runCli, type Sandbox, stopLeftovers } from './support/cli.js';
import { serverEverything } from './support/mcp-fixtures.js';
import { startRelay } from './support/relay-fixture.js';
import { isAlive, until } from './support/wait.js';

const PROMPT = 'mcpassistant> ';
// eslint-disable-next-line no-control-regex -- what readline draws: cursor moves and line clears (CSI …)
const ESCAPES = /\u001b\[[0-9;?]*[A-Za-z]/g;

interface Terminal {
  readonly pid: number;
  /** Everything drawn so far, escape sequences removed. */
  screen(): string;
  /** The text after the last prompt: what the user is typing. */
  line(): string | undefined;
  type(keys: string): void;
  /** Waits for `pattern` after the previous match; returns the match. */
  waitFor(pattern: string | RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  exited: Promise<{ exitCode: number; signal?: number }>;
}

const open = new Set<{ pty: IPty; exited: Promise<unknown> }>();

function openTerminal(args: string[], sandbox: Sandbox): Terminal {
  const pty = spawn(process.execPath, [CLI, ...args], {
    name: 'xterm-256color',
    cols: 120,
    rows: 40,
    cwd: sandbox.dir,
    env: { ...sandbox.env, TERM: 'xterm-256color', LOCAL_RELAY_PORT: '0' },
  });
  let raw = '';
  pty.onData((data) => (raw += data));
  const exited = new Promise<{ exitCode: number; signal?: number }>((resolve) => pty.onExit(resolve));
  const entry = { pty, exited };
  open.add(entry);
  void exited.then(() => open.delete(entry));
  const screen = () => raw.replace(ESCAPES, '');
  let mark = 0;
  return {
    pid: pty.pid,
    screen,
    line: () => {
      const text = screen();
      const at = text.lastIndexOf(PROMPT);
      return at < 0 ? undefined : text.slice(at + PROMPT.length);
    },
    type: (keys) => pty.write(keys),
    async waitFor(pattern, timeoutMs = 15_000) {
      const regex =
        typeof pattern === 'string' ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : pattern;
      const seen: { match: RegExpExecArray | null } = { match: null };
      await until(
        () => (seen.match = regex.exec(screen().slice(mark))) !== null,
        timeoutMs,
        `${String(pattern)} on the terminal`,
      ).catch((error: Error) => {
        throw new Error(`${error.message}; after the last match it shows:\n${screen().slice(mark)}`);
      });
      const match = seen.match!;
      mark += match.index + match[0].length;
      return match;
    },
    exited,
  };
}

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await createSandbox();
});
afterEach(async () => {
  // A failed test may leave a menu running: kill its whole tree.
  for (const { pty, exited } of open) {
    const tree = [pty.pid, ...descendants(pty.pid)];
    for (const pid of tree) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // ignore: already gone
      }
    }
    await exited;
  }
  await stopLeftovers();
  await rm(sandbox.dir, { recursive: true, force: true });
});

const statePath = () => join(sandbox.configDir, '.mcpassistant.json');

/** mcp.json in the per-user directory, where the menu (no --config) looks for it. */
async function writeConfig(servers: Record<string, unknown>): Promise<void> {
  await mkdir(sandbox.configDir, { recursive: true });
  await writeFile(
    join(sandbox.configDir, 'mcp.json'),
    `${JSON.stringify({ mcpServers: servers }, null, 2)}\n`,
  );
}

/** Waits for server-everything's running line and returns its pid. */
async function everythingPid(term: Terminal): Promise<number> {
  const match = await term.waitFor(/✓ everything\s+running\s.*pid (\d+)/);
  return Number(match[1]);
}

describe('mcpassistant-gateway menu', () => {
  it('opens with no arguments in a terminal: /help, /show, /set, /settings, Tab completion, Ctrl+C twice quits', async () => {
    const term = openTerminal([], sandbox);
    await term.waitFor(PROMPT);

    term.type('/help\r');
    await term.waitFor(/\/set KEY VALUE\s+save a setting/);
    await term.waitFor(/\/quit\s+stop the servers and leave/);
    await term.waitFor(PROMPT);

    term.type('/show\r');
    await term.waitFor(/REQUEST_TIMEOUT_SECONDS\s+20\s+default/);
    await term.waitFor(/LOCAL_RELAY_PORT\s+0\s+environment/);
    await term.waitFor(`runtime state  ${statePath()}`);
    await term.waitFor(PROMPT);

    // Tab completes the common prefix, a second Tab lists the choices; keys complete after /set.
    term.type('/se');
    await until(() => term.line() === '/se', 5000, 'the typed text');
    term.type('\t');
    await until(() => term.line() === '/set', 5000, 'Tab to complete /se to /set');
    term.type('\t');
    await term.waitFor(/\/set\s+\/settings/);
    term.type(' request_t');
    await until(() => term.line() === '/set request_t', 5000, 'the typed key');
    term.type('\t');
    await until(() => term.line() === '/set request_timeout_seconds', 5000, 'Tab to complete the key');
    term.type(' 120\r');
    await term.waitFor(`REQUEST_TIMEOUT_SECONDS = 120 (saved in ${statePath()})`);
    await term.waitFor(PROMPT);
    expect(JSON.parse(await readFile(statePath(), 'utf8'))).toMatchObject({ request_timeout_seconds: 120 });

    // A bad value is refused with the reason and nothing is written; the menu stays.
    term.type('/set request_timeout_seconds soon\r');
    await term.waitFor('error: request_timeout_seconds: expected a number of seconds');
    await term.waitFor(PROMPT);
    expect(JSON.parse(await readFile(statePath(), 'utf8'))).toEqual({ request_timeout_seconds: 120 });

    // A value the environment overrides is saved with a note; any name form works.
    term.type('/set LOCAL_RELAY_PORT 5000\r');
    await term.waitFor('LOCAL_RELAY_PORT = 5000');
    await term.waitFor('note: LOCAL_RELAY_PORT is also set in the environment, which takes precedence.');
    await term.waitFor(PROMPT);

    term.type('/settings\r');
    await term.waitFor(/request_timeout_seconds\s+120\s+saved with \/set/);
    await term.waitFor(/local_relay_port\s+0\s+environment/);
    await term.waitFor(PROMPT);

    term.type('/strat\r');
    await term.waitFor('Unknown command /strat. Did you mean /start?');
    await term.waitFor(PROMPT);

    term.type('\x03');
    await term.waitFor('(To quit, type /quit or press Ctrl+C again.)');
    await term.waitFor(PROMPT);
    term.type('\x03');
    expect((await term.exited).exitCode).toBe(0);
  });

  it('/start serves the servers in the background; Ctrl+C stops them and the prompt returns', async () => {
    await writeConfig({ everything: serverEverything() });
    const term = openTerminal(['menu'], sandbox);
    await term.waitFor(PROMPT);

    term.type('/start\r');
    await until(
      () => /Local endpoint on http:\/\/127\.0\.0\.1:\d+/.test(term.screen()),
      15_000,
      'the local endpoint line',
    );
    const pid = await everythingPid(term);
    expect(descendants(term.pid)).toContain(pid);

    term.type('/status\r');
    await term.waitFor(/Relay: Local endpoint on http:\/\/127\.0\.0\.1:\d+/);
    await term.waitFor(/everything\s+http:\/\/127\.0\.0\.1:\d+\/local\/everything\/mcp/);
    await term.waitFor(/✓ everything\s+running/);
    await term.waitFor(PROMPT);

    term.type('\x03');
    await term.waitFor('Ctrl+C: stopping the servers');
    await term.waitFor('Stopped.');
    await term.waitFor(PROMPT);
    expect(isAlive(pid), `server-everything ${pid} still alive`).toBe(false);
    expect(descendants(term.pid)).toEqual([]);

    term.type('/status\r');
    await term.waitFor('Not running: /start or /run starts the servers');
    term.type('/quit\r');
    expect((await term.exited).exitCode).toBe(0);
  });

  it('/run holds the terminal until Ctrl+C; /quit stops a running gateway, exits 0 and leaves no process', async () => {
    await writeConfig({ everything: serverEverything() });
    const term = openTerminal([], sandbox);
    await term.waitFor(PROMPT);

    term.type('/run\r');
    await term.waitFor('Running in the foreground. Press Ctrl+C to stop and return to the menu.');
    const first = await everythingPid(term);
    // In the foreground a command is not run: the terminal belongs to the gateway.
    term.type('/status\r');
    await term.waitFor('(Running in the foreground: press Ctrl+C to stop it and return to the menu.)');

    term.type('\x03');
    await term.waitFor('Stopped.');
    await term.waitFor(PROMPT);
    expect(isAlive(first), `server-everything ${first} still alive`).toBe(false);

    term.type('/start\r');
    const second = await everythingPid(term);
    const tree = descendants(term.pid);
    expect(tree).toContain(second);

    term.type('/quit\r');
    expect((await term.exited).exitCode).toBe(0);
    expect(isAlive(term.pid)).toBe(false);
    for (const pid of tree) expect(isAlive(pid), `descendant ${pid} still alive`).toBe(false);
  });

  it('local mode says each thing once: Created before the servers, one "stopped" line, edits applied with a word and no reprinted token', async () => {
    const term = openTerminal(['menu'], sandbox);
    await term.waitFor(PROMPT);
    // First run: the file is created (servers not started, so nothing is downloaded) and said so first.
    term.type('/set start_mcp_servers false\r');
    await term.waitFor('START_MCP_SERVERS = false');
    term.type('/start\r');
    await term.waitFor(`Created ${join(sandbox.configDir, 'mcp.json')} with a "filesystem" server`);
    await term.waitFor(/– filesystem\s+stopped/);
    await term.waitFor('Started 1 server(s) in the background');
    term.type('/stop\r');
    await term.waitFor('Stopped.');

    await writeConfig({ everything: serverEverything(), off: { command: 'node', disabled: true } });
    term.type('/unset start_mcp_servers\r');
    await term.waitFor('START_MCP_SERVERS removed');
    term.type('/start\r');
    const pid = await everythingPid(term);
    await until(() => term.screen().includes('Clients send the header'), 15_000, 'the endpoint block');

    // An added server: one line saying the file was applied, the new endpoint, no relay noise, no token again.
    // A longer name widens the table, and a new description re-announces `off`: still one line for it.
    await writeConfig({
      everything: serverEverything(),
      off: { command: 'node', disabled: true, description: 'kept for later' },
      second: serverEverything(),
      'a-much-longer-server-name': { command: 'node', disabled: true },
    });
    await term.waitFor(`${join(sandbox.configDir, 'mcp.json')} changed: applied.`);
    await term.waitFor(/Endpoint added: second http:\/\/127\.0\.0\.1:\d+\/local\/second\/mcp/);
    await term.waitFor(/✓ second\s+running/);
    // A broken edit is an error; the fix is applied with a word.
    await writeFile(join(sandbox.configDir, 'mcp.json'), '{ "mcpServers": ');
    await term.waitFor('invalid JSON');
    await writeConfig({
      everything: serverEverything(),
      off: { command: 'node', disabled: true, description: 'changed again' },
      'a-much-longer-server-name': { command: 'node', disabled: true },
    });
    await term.waitFor('mcp.json is valid again: applied.');
    await term.waitFor('Endpoint removed: second');
    // What this second /start printed.
    const screen = term.screen().slice(term.screen().indexOf('START_MCP_SERVERS removed'));
    expect(screen).not.toContain('Relay: closed');
    expect(screen).not.toContain('retrying');
    expect(screen.match(/Clients send the header/g)).toHaveLength(1);
    expect(screen.match(/– off\s+stopped\s+disabled in mcp\.json/g)).toHaveLength(1);
    expect(isAlive(pid)).toBe(true);

    term.type('/quit\r');
    expect((await term.exited).exitCode).toBe(0);
    expect(isAlive(pid)).toBe(false);
  });

  it('/login reaches a gateway started with /start; advice says /login; /set names the key; /settings, /unset and /local', async () => {
    const relay = await startRelay({ jwtFallbackEnabled: true });
    try {
      await writeConfig({ everything: serverEverything() });
      const term = openTerminal(['menu'], sandbox);
      await term.waitFor(PROMPT);

      term.type('/login\r');
      await term.waitFor(
        'error: no relay is configured: type /login https://relay.example.com, or /set remote_server_base_url https://relay.example.com',
      );
      term.type('/set request_timeout_seconds abc\r');
      await term.waitFor(
        'error: request_timeout_seconds: expected a number of seconds (at least 1) (got "abc"). Nothing was saved.',
      );
      term.type(`/set remote_server_base_url ${relay.url.origin}\r`);
      await term.waitFor(`REMOTE_SERVER_BASE_URL = ${relay.url.origin}`);

      term.type('/start\r');
      await term.waitFor(
        'Relay: sign-in needed: a relay is configured but there is no token: run /login, or set AGENT_JWT',
      );
      await term.waitFor(PROMPT);
      term.type('/login\r');
      await term.waitFor(/Signed in to http:\/\/127\.0\.0\.1:\d+ as "([^"]+)"/);
      await term.waitFor('Restarting the servers to use the new sign-in…');
      await term.waitFor(/Connected to ws:\/\/127\.0\.0\.1:\d+ as "[^"]+"\. Endpoints:/);
      await term.waitFor(PROMPT);

      term.type('/settings\r');
      await term.waitFor(/jwt_token\s+«redacted»\s+saved by \/login/);
      await term.waitFor(PROMPT);
      expect(term.screen()).toMatch(/remote_server_base_url\s+\S+\s+saved by \/login or \/set/);

      term.type('/local\r');
      await term.waitFor('REMOTE_SERVER_BASE_URL removed');
      await term.waitFor('No relay is configured now: the gateway serves the local endpoint.');
      await term.waitFor('Restarting the servers to serve the local endpoint…');
      await term.waitFor(/Local endpoint on http:\/\/127\.0\.0\.1:\d+/);
      await term.waitFor(PROMPT);

      term.type('/unset no_such_key\r');
      await term.waitFor('error: There is no setting "no_such_key". /settings lists them.');
      expect(term.screen()).not.toContain('mcpassistant-gateway login');

      term.type('/quit\r');
      expect((await term.exited).exitCode).toBe(0);
      expect(descendants(term.pid)).toEqual([]);
    } finally {
      await relay.close();
    }
  });

  it('prints the help without a terminal, and `menu` asks for one', async () => {
    const help = await runCli([], sandbox);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: mcpassistant-gateway');
    expect(help.stdout).toMatch(/menu\s+.*slash commands/);

    const menu = await runCli(['menu'], sandbox);
    expect(menu.code).toBe(2);
    expect(menu.stderr).toContain('the menu needs a terminal');
  });
});

describe('run when the relay wants a sign-in', () => {
  it('in a terminal, offers to sign in; a pasted token is hidden, saved 0600, and the agent connects', async () => {
    const relay = await startRelay();
    try {
      const token = await relay.tokens.issue('frank', ['*'], 60);
      await writeConfig({ everything: serverEverything() });
      sandbox.env['REMOTE_SERVER_BASE_URL'] = relay.url.origin;
      const term = openTerminal(['run'], sandbox);
      await term.waitFor('Relay: sign-in needed');
      await term.waitFor('Sign in now? [b]rowser, [p]aste a token, or [q]uit:');
      term.type('p\r');
      await term.waitFor('Token (hidden):');
      term.type(`${token}\r`);
      await term.waitFor('Saved the token');
      await term.waitFor(/Connected to ws:\/\/127\.0\.0\.1:\d+ as "frank"/);
      expect(term.screen()).not.toContain(token);
      const state = JSON.parse(await readFile(statePath(), 'utf8')) as Record<string, unknown>;
      expect(state['jwt_token']).toBe(token);
      expect((await stat(statePath())).mode & 0o777).toBe(0o600);
      term.type('\x03');
      expect((await term.exited).exitCode).toBe(0);
    } finally {
      await relay.close();
    }
  });

  it('without a terminal, stops with one line saying what to do (exit 4)', async () => {
    const relay = await startRelay();
    try {
      await writeConfig({ everything: serverEverything() });
      const result = await runCli(['run'], sandbox, { REMOTE_SERVER_BASE_URL: relay.url.origin });
      expect(result.code).toBe(4);
      expect(result.stdout).toContain(
        'Run `mcpassistant-gateway login` (or set AGENT_JWT), then start the gateway again.',
      );
      expect(result.stdout).toContain('Stopped.');
    } finally {
      await relay.close();
    }
  });
});
