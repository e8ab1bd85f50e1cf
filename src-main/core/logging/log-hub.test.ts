// The LogHub: scoped loggers, one level for every sink, a bounded ring buffer with live subscribers, a
// console sink with its own threshold, and a log file that never holds a secret.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { LogEntry } from './log-hub.js';
import { LogHub } from './log-hub.js';
import { REDACTED } from './redactor.js';

const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZ2VudC00MiJ9.Xk3p2b0w8lXjv6vU8L0r5p1YQ7m9Zs4aG2hN1cT0eQw';

const messages = (entries: readonly LogEntry[]): string[] => entries.map((entry) => entry.message);

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcpgw-log-hub-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('LogHub', () => {
  it('scopes each logger, and child() scopes it as parent:child', () => {
    const hub = new LogHub();
    const bridge = hub.logger('bridge');
    bridge.info('connected');
    bridge.child('socket').warn('closed');
    bridge.child('socket').child('ping').error('late');
    expect(hub.recent().map(({ level, scope, message }) => ({ level, scope, message }))).toEqual([
      { level: 'info', scope: 'bridge', message: 'connected' },
      { level: 'warn', scope: 'bridge:socket', message: 'closed' },
      { level: 'error', scope: 'bridge:socket:ping', message: 'late' },
    ]);
  });

  it('formats arguments like console.log, and numbers entries in order', () => {
    const hub = new LogHub();
    const before = Date.now();
    hub.logger('x').info('%s has %d tools', 'fs', 3, { ok: true });
    hub.logger('x').info('second');
    const [first, second] = hub.recent();
    expect(first?.message).toBe('fs has 3 tools { ok: true }');
    expect(first?.time).toBeGreaterThanOrEqual(before);
    expect(second!.seq).toBe(first!.seq + 1);
  });

  it('drops entries below the level everywhere; the default level is info', () => {
    const defaults = new LogHub();
    const log = defaults.logger('x');
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    expect(messages(defaults.recent())).toEqual(['i', 'w', 'e']);

    const lines: string[] = [];
    const seen: LogEntry[] = [];
    const quiet = new LogHub({ level: 'warn', console: { write: (line: string) => lines.push(line) } });
    quiet.subscribe((entry) => seen.push(entry));
    const q = quiet.logger('x');
    q.debug('d');
    q.info('i');
    q.warn('w');
    q.error('e');
    expect(messages(quiet.recent())).toEqual(['w', 'e']);
    expect(messages(seen)).toEqual(['w', 'e']);
    expect(lines).toHaveLength(2);

    const verbose = new LogHub({ level: 'debug' });
    verbose.logger('x').debug('d');
    expect(messages(verbose.recent())).toEqual(['d']);
  });

  it('keeps only the most recent entries, oldest first, up to its capacity', () => {
    const hub = new LogHub({ capacity: 3 });
    const log = hub.logger('x');
    for (let i = 1; i <= 5; i++) log.info(`line ${i}`);
    const recent = hub.recent();
    expect(messages(recent)).toEqual(['line 3', 'line 4', 'line 5']);
    expect(recent.map((entry) => entry.seq)).toEqual([3, 4, 5]);
  });

  it("keeps a ring per scope: one noisy scope never evicts another's entries", () => {
    const hub = new LogHub({ capacity: 50 });
    hub.logger('server').child('quiet').info('running');
    hub.logger('gateway').info('loaded 2 servers');
    const noisy = hub.logger('server').child('noisy').child('stderr');
    for (let i = 0; i < 10_000; i++) noisy.info(`noise ${i}`);
    hub.logger('server').child('quiet').child('stderr').info('quiet says hello');
    expect(messages(hub.recent({ scope: 'server:quiet' }))).toEqual(['running', 'quiet says hello']);
    expect(messages(hub.recent({ scope: 'gateway' }))).toEqual(['loaded 2 servers']);
    expect(hub.recent({ scope: 'server:noisy' })).toHaveLength(50);
    // Everything, in order, the newest `limit`.
    expect(messages(hub.recent({ limit: 3 }))).toEqual(['noise 9998', 'noise 9999', 'quiet says hello']);
    expect(hub.recent()[0]?.message).toBe('running');
    // The last N stderr lines of one server, for the window and `tools`.
    expect(hub.serverOutput('noisy', 2)).toEqual(['noise 9998', 'noise 9999']);
    expect(hub.serverOutput('quiet')).toEqual(['quiet says hello']);
  });

  it("writes each server's stderr to its own file, and the rest to the main file", async () => {
    const file = join(dir, 'logs', 'gateway.log');
    const servers = join(dir, 'logs', 'servers');
    const hub = new LogHub({ file, serverLogDir: servers });
    hub.logger('server').child('fs').info('running');
    hub.logger('server').child('fs').child('stderr').info('listening on stdio');
    expect(hub.serverLogFile('fs')).toBe(join(servers, 'fs.log'));
    expect(await readFile(file, 'utf8')).toMatch(/\[server:fs\] running\n$/);
    expect(await readFile(join(servers, 'fs.log'), 'utf8')).toMatch(
      /\[server:fs:stderr\] listening on stdio\n$/,
    );
  });

  it('recent() is a copy: changing it does not change the buffer', () => {
    const hub = new LogHub();
    hub.logger('x').info('kept');
    hub.recent().length = 0;
    expect(messages(hub.recent())).toEqual(['kept']);
  });

  it('calls subscribers with every new entry until they unsubscribe', () => {
    const hub = new LogHub();
    const log = hub.logger('x');
    log.info('before');
    const first: LogEntry[] = [];
    const second: LogEntry[] = [];
    const unsubscribeFirst = hub.subscribe((entry) => first.push(entry));
    const unsubscribeSecond = hub.subscribe((entry) => second.push(entry));
    log.info('one');
    unsubscribeFirst();
    log.warn('two');
    unsubscribeSecond();
    log.error('three');
    expect(messages(first)).toEqual(['one']);
    expect(messages(second)).toEqual(['one', 'two']);
    expect(second[1]).toMatchObject({ level: 'warn', scope: 'x', message: 'two' });
    expect(messages(hub.recent())).toEqual(['before', 'one', 'two', 'three']);
  });

  it('writes to the console sink only at or above its own threshold', () => {
    const lines: string[] = [];
    const hub = new LogHub({
      level: 'debug',
      console: { write: (line: string) => lines.push(line), level: 'warn' },
    });
    const log = hub.logger('cli');
    log.debug('d');
    log.info('i');
    log.warn('careful');
    log.error('broken');
    expect(messages(hub.recent())).toEqual(['d', 'i', 'careful', 'broken']);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\d{2}:\d{2}:\d{2}\.\d{3} warn {2}\[cli\] careful\n$/);
    expect(lines[1]).toMatch(/^\d{2}:\d{2}:\d{2}\.\d{3} error \[cli\] broken\n$/);
  });

  it('uses the hub level for the console sink when it has none', () => {
    const lines: string[] = [];
    const hub = new LogHub({ level: 'info', console: { write: (line: string) => lines.push(line) } });
    hub.logger('cli').debug('d');
    hub.logger('cli').info('i');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('[cli] i');
  });

  it('redacts secrets in the buffer, for subscribers and on the console', () => {
    const lines: string[] = [];
    const seen: LogEntry[] = [];
    const hub = new LogHub({ console: { write: (line: string) => lines.push(line) } });
    hub.subscribe((entry) => seen.push(entry));
    hub.redactor.addSecret('hunter2-password');
    hub.logger('auth').info('login with hunter2-password and', { token: JWT });
    for (const text of [hub.recent()[0]?.message, seen[0]?.message, lines[0]]) {
      expect(text).toBeDefined();
      expect(text).not.toContain('hunter2-password');
      expect(text).not.toContain(JWT);
      expect(text).toContain(REDACTED);
    }
  });

  it('writes the log file, at its level, without any secret', async () => {
    const file = join(dir, 'logs', 'gateway.log');
    const hub = new LogHub({ file, level: 'info' });
    hub.redactor.addSecret('hunter2-password');
    const log = hub.logger('auth').child('login');
    log.info('signed in with hunter2-password');
    log.warn('token', JWT, 'header', `Authorization: Bearer ${JWT}`);
    log.error(new Error(`refused hunter2-password`));
    log.debug('not at this level');

    // electron-log's file transport writes synchronously: no need to wait.
    const text = await readFile(file, 'utf8');
    expect(text).toContain('[auth:login] signed in with');
    expect(text).toContain('[warn]');
    expect(text).toContain('refused');
    expect(text).not.toContain('not at this level');
    expect(text).not.toContain('hunter2-password');
    expect(text).not.toContain(JWT);
    expect(text).not.toContain('eyJ');
    expect(text.split(REDACTED).length - 1).toBeGreaterThanOrEqual(4);
  });
});
