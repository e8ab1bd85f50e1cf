// One LogHub per process: scoped loggers, redaction, ring buffers of recent entries that fronts subscribe to
// (the UI's live log view), and electron-log's file transport for the per-user log file. electron-log's Node
// entry has the same API the Electron app will use, so the shell gets the same logs for free.
//
// One chatty server must not push everything else out (issue 8.7): every scope has its own ring buffer, and
// each server's output (its stderr, logged under `server:<name>:stderr`) goes to a file of its own, rotated
// on its own, while gateway.log keeps the gateway's lines and each server's lifecycle.
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { formatWithOptions } from 'node:util';

import electronLog from 'electron-log/node';

import { APP_NAME } from '../config/paths.js';
import { Redactor } from './redactor.js';

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LogEntry {
  readonly seq: number;
  readonly time: number;
  readonly level: LogLevel;
  readonly scope: string;
  readonly message: string;
}

export interface Logger {
  error(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  info(...args: unknown[]): void;
  debug(...args: unknown[]): void;
  /** A logger for a sub-part, scoped `parent:child`. */
  child(scope: string): Logger;
}

export interface LogHubOptions {
  /** Entries below this level are dropped everywhere. Default `info`. */
  level?: LogLevel;
  /** Path of the log file; omitted or null for none. */
  file?: string | null;
  /** Where human-readable lines go (the CLI uses stderr so stdout stays clean for `--json`); null for none. */
  console?: { write(line: string): unknown; level?: LogLevel } | null;
  /** Entries kept for `recent()`, per scope (so a noisy scope evicts only its own). Default 500. */
  capacity?: number;
  /**
   * Folder for the servers' output: the stderr of server `x` goes to `<folder>/x.log` (rotated at 1 MiB to
   * `x.old.log`) instead of the main file. Omitted or null: it goes to the main file.
   */
  serverLogDir?: string | null;
}

/** Scope of a server's stderr lines: `server:<name>:stderr`. */
export const serverOutputScope = (name: string): string => `server:${name}:stderr`;
const SERVER_OUTPUT = /^server:([^:]+):stderr$/;

/** The size at which a log file is rotated (its previous version is kept as `<name>.old.log`). */
export const LOG_FILE_MAX_BYTES = 1024 ** 2;

const rank = (level: LogLevel): number => LOG_LEVELS.indexOf(level);
let hubCount = 0;

export class LogHub {
  readonly redactor = new Redactor();
  readonly #events = new EventEmitter<{ entry: [LogEntry] }>();
  /** Recent entries, one ring per scope. */
  readonly #buffers = new Map<string, LogEntry[]>();
  readonly #capacity: number;
  readonly #level: LogLevel;
  readonly #console: LogHubOptions['console'];
  readonly #file: FileLog | null;
  readonly #serverLogDir: string | null;
  readonly #serverFiles = new Map<string, FileLog>();
  #seq = 0;

  constructor(options: LogHubOptions = {}) {
    this.#level = options.level ?? 'info';
    this.#capacity = options.capacity ?? 500;
    this.#console = options.console ?? null;
    this.#file = options.file ? createFileLog(options.file, (message) => this.#fileError(message)) : null;
    this.#serverLogDir = options.serverLogDir ?? null;
  }

  /** The file server `name`'s output is written to, or undefined when it goes to the main file. */
  serverLogFile(name: string): string | undefined {
    return this.#serverLogDir ? join(this.#serverLogDir, `${name}.log`) : undefined;
  }

  logger(scope: string): Logger {
    const write =
      (level: LogLevel) =>
      (...args: unknown[]): void =>
        this.#write(level, scope, args);
    return {
      error: write('error'),
      warn: write('warn'),
      info: write('info'),
      debug: write('debug'),
      child: (sub) => this.logger(`${scope}:${sub}`),
    };
  }

  /**
   * The most recent entries, oldest first: of every scope, or of `scope` and its sub-scopes (`server:fs`
   * also gives `server:fs:stderr`); at most `limit` (the newest ones).
   */
  recent(filter: { scope?: string; limit?: number } = {}): LogEntry[] {
    const { scope, limit } = filter;
    const rings = [...this.#buffers].filter(
      ([key]) => scope === undefined || key === scope || key.startsWith(`${scope}:`),
    );
    const all =
      rings.length === 1
        ? [...rings[0]![1]]
        : rings.flatMap(([, ring]) => ring).sort((a, b) => a.seq - b.seq);
    return limit === undefined ? all : all.slice(-limit);
  }

  /** The last `limit` lines server `name` wrote to stderr (redacted), oldest first. */
  serverOutput(name: string, limit = 20): string[] {
    return this.recent({ scope: serverOutputScope(name), limit }).map((entry) => entry.message);
  }

  /** Calls `listener` for every new entry; returns the unsubscribe function. */
  subscribe(listener: (entry: LogEntry) => void): () => void {
    this.#events.on('entry', listener);
    return () => this.#events.off('entry', listener);
  }

  #fileFor(scope: string): FileLog | null {
    const server = this.#serverLogDir ? SERVER_OUTPUT.exec(scope)?.[1] : undefined;
    if (!server) return this.#file;
    let file = this.#serverFiles.get(server);
    if (!file) {
      file = createFileLog(this.serverLogFile(server)!, (message) => this.#fileError(message));
      this.#serverFiles.set(server, file);
    }
    return file;
  }

  /** A log file that cannot be written: said on the console and to subscribers, not to the files. */
  #fileError(message: string): void {
    const entry: LogEntry = { seq: ++this.#seq, time: Date.now(), level: 'warn', scope: 'log', message };
    this.#console?.write(`${formatTime(entry.time)} warn  [log] ${message}\n`);
    this.#events.emit('entry', entry);
  }

  #write(level: LogLevel, scope: string, args: unknown[]): void {
    if (rank(level) > rank(this.#level)) return;
    const message = this.redactor.redact(formatWithOptions({ colors: false, depth: 4 }, ...args));
    const entry: LogEntry = { seq: ++this.#seq, time: Date.now(), level, scope, message };
    let ring = this.#buffers.get(scope);
    if (!ring) this.#buffers.set(scope, (ring = []));
    ring.push(entry);
    if (ring.length > this.#capacity) ring.shift();
    this.#fileFor(scope)?.[level](`[${scope}] ${message}`);
    if (this.#console && rank(level) <= rank(this.#console.level ?? this.#level)) {
      this.#console.write(`${formatTime(entry.time)} ${level.padEnd(5)} [${scope}] ${message}\n`);
    }
    this.#events.emit('entry', entry);
  }
}

type FileLog = ReturnType<typeof electronLog.create>;

/** Who to tell when a log file cannot be written, by path. */
const fileErrorHandlers = new Map<string, (message: string) => void>();

/**
 * electron-log reports a file it cannot write (a read-only folder) through its default logger's console
 * transport, with a stack trace, on every line: instead, the hub that owns the file says it once, in one
 * sentence, and logging goes on without the file.
 */
electronLog.transports.console = Object.assign(
  ({ data }: { data: unknown[] }) => {
    const text = typeof data[0] === 'string' ? data[0] : '';
    const error = data.find((item): item is Error => item instanceof Error);
    for (const [path, handler] of fileErrorHandlers) {
      if (!text.includes(path)) continue;
      fileErrorHandlers.delete(path);
      handler(
        `cannot write the log file ${path}${error ? ` (${error.message})` : ''}; logging goes on without it.`,
      );
    }
  },
  { level: false as const },
) as unknown as typeof electronLog.transports.console;

function createFileLog(path: string, onError: (message: string) => void): FileLog {
  const file = electronLog.create({ logId: `mcpassistant-${process.pid}-${++hubCount}` });
  file.transports.console.level = false;
  fileErrorHandlers.set(path, onError);
  file.transports.file.level = 'silly';
  // Without a name electron-log looks for the nearest package.json of the working directory, and fails
  // (silently) when a user runs the CLI elsewhere.
  file.transports.file.setAppName(APP_NAME);
  file.transports.file.resolvePathFn = () => path;
  file.transports.file.maxSize = LOG_FILE_MAX_BYTES;
  file.transports.file.format = '[{iso}] [{level}] {text}';
  return file;
}

function formatTime(time: number): string {
  return new Date(time).toISOString().slice(11, 23);
}
