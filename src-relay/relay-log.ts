// The relay's logger: the same shape as the core's scoped Logger (so the gateway can hand its own in when it
// embeds the relay), with a plain stderr implementation for the standalone `mcpassistant-relay`.
// The relay never logs tokens: it logs subjects, server names and request ids only.

export interface RelayLogger {
  error(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  info(...args: unknown[]): void;
  debug(...args: unknown[]): void;
}

const LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type RelayLogLevel = (typeof LEVELS)[number];

export function consoleLogger(
  level: RelayLogLevel = 'info',
  write = (line: string) => process.stderr.write(line),
): RelayLogger {
  const max = LEVELS.indexOf(level);
  const at =
    (name: RelayLogLevel) =>
    (...args: unknown[]) => {
      if (LEVELS.indexOf(name) > max) return;
      const text = args
        .map((a) => (a instanceof Error ? a.message : typeof a === 'string' ? a : JSON.stringify(a)))
        .join(' ');
      write(`${new Date().toISOString()} ${name.padEnd(5)} ${text}\n`);
    };
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}

export const silentLogger: RelayLogger = { error() {}, warn() {}, info() {}, debug() {} };
