// One LogHub per process: scoped loggers, redaction, a ring buffer of recent entries that fronts subscribe to
// (the UI's live log view), and electron-log's file transport for the per-user log file. electron-log's Node
// entry has the same API the Electron app will use, so the shell gets the same logs for free.
import { EventEmitter } from 'node:events';
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
  /** Entries kept for `recent()`. Default 1000. */
  capacity?: number;
}

const rank = (level: LogLevel): number => LOG_LEVELS.indexOf(level);
let hubCount = 0;

export class LogHub {
  readonly redactor = new Redactor();
  readonly #events = new EventEmitter<{ entry: [LogEntry] }>();
  readonly #buffer: LogEntry[] = [];
  readonly #capacity: number;
  readonly #level: LogLevel;
  readonly #console: LogHubOptions['console'];
  readonly #file: ReturnType<typeof electronLog.create> | null;
  #seq = 0;

  constructor(options: LogHubOptions = {}) {
    this.#level = options.level ?? 'info';
    this.#capacity = options.capacity ?? 1000;
    this.#console = options.console ?? null;
    this.#file = options.file ? createFileLog(options.file) : null;
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

  /** The most recent entries, oldest first. */
  recent(): LogEntry[] {
    return [...this.#buffer];
  }

  /** Calls `listener` for every new entry; returns the unsubscribe function. */
  subscribe(listener: (entry: LogEntry) => void): () => void {
    this.#events.on('entry', listener);
    return () => this.#events.off('entry', listener);
  }

  #write(level: LogLevel, scope: string, args: unknown[]): void {
    if (rank(level) > rank(this.#level)) return;
    const message = this.redactor.redact(formatWithOptions({ colors: false, depth: 4 }, ...args));
    const entry: LogEntry = { seq: ++this.#seq, time: Date.now(), level, scope, message };
    this.#buffer.push(entry);
    if (this.#buffer.length > this.#capacity) this.#buffer.shift();
    this.#file?.[level](`[${scope}] ${message}`);
    if (this.#console && rank(level) <= rank(this.#console.level ?? this.#level)) {
      this.#console.write(`${formatTime(entry.time)} ${level.padEnd(5)} [${scope}] ${message}\n`);
    }
    this.#events.emit('entry', entry);
  }
}

function createFileLog(path: string) {
  const file = electronLog.create({ logId: `mcpassistant-${process.pid}-${++hubCount}` });
  file.transports.console.level = false;
  file.transports.file.level = 'silly';
  // Without a name electron-log looks for the nearest package.json of the working directory, and fails
  // (silently) when a user runs the CLI elsewhere.
  file.transports.file.setAppName(APP_NAME);
  file.transports.file.resolvePathFn = () => path;
  file.transports.file.format = '[{iso}] [{level}] {text}';
  return file;
}

function formatTime(time: number): string {
  return new Date(time).toISOString().slice(11, 23);
}
