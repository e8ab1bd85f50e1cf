// The stdio transport's line reader, with a limit that fails one message instead of the server. The SDK's
// ReadBuffer (1.32.2, and 2.4.0 alike) throws once its buffer passes maxBufferSize (10 MiB by default), and its
// StdioClientTransport then closes the transport: the server is killed, every call in flight on it fails, and
// the size is never said (issue 8, item 2). This reader skips an oversized line as it streams in (keeping
// only its first and last bytes, not the whole line), and turns it into a JSON-RPC error for the request it
// answered, naming the size and the limit.
import { type JSONRPCMessage, parseJSONRPCMessage } from '@modelcontextprotocol/client';

import { formatBytes } from '../../../src-shared/wire.js';
import { isPassThroughResponse } from './legacy-calls.js';

/** How much of an oversized line is kept at each end to find its JSON-RPC id. */
const EDGE_BYTES = 512;

/** An id at the start (`{"jsonrpc":"2.0","id":7,…`, Python SDK) or at the end (`…,"jsonrpc":"2.0","id":7}`, TS SDK). */
const ID_AT_START = /^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.)*")/;
const ID_AT_END = /"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.)*")\s*\}\s*$/;

type Entry = { line: string } | { oversized: number; head: string; tail: string };

/** A drop-in for the SDK's ReadBuffer (append, readMessage, clear) with a per-line limit. */
export class LineReadBuffer {
  #parts: Buffer[] = [];
  #size = 0;
  /** Set while skipping the rest of an oversized line. */
  #skipping: { size: number; head: Buffer; tail: Buffer } | undefined;
  readonly #ready: Entry[] = [];

  /**
   * @param maxLineBytes the largest message (one line, UTF-8 bytes) passed on
   * @param onOversized told of every line skipped (size in bytes, and the id it answered when known)
   */
  constructor(
    readonly maxLineBytes: number,
    private readonly onOversized: (size: number, id: string | number | undefined) => void = () => undefined,
  ) {}

  append(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(0x0a, start);
      const end = newline === -1 ? chunk.length : newline;
      this.#take(chunk.subarray(start, end));
      if (newline === -1) break;
      this.#endLine();
      start = newline + 1;
    }
  }

  /** The next message, null when no whole line is buffered. Throws for a line that is not JSON-RPC. */
  readMessage(): JSONRPCMessage | null {
    const entry = this.#ready.shift();
    if (!entry) return null;
    if ('line' in entry) {
      // What the SDK's deserializeMessage does, except that an answer to a passed-through call (legacy-calls.ts)
      // skips the schema's parse: LegacyCalls checks the little it reads of it.
      const message: unknown = JSON.parse(entry.line.replace(/\r$/, ''));
      return isPassThroughResponse(message) ? (message as JSONRPCMessage) : parseJSONRPCMessage(message);
    }
    const id = parseId(entry.head, ID_AT_START) ?? parseId(entry.tail, ID_AT_END);
    this.onOversized(entry.oversized, id);
    const message = `the server's message is ${formatBytes(entry.oversized)}, over the ${formatBytes(this.maxLineBytes)} limit of a stdio message`;
    // Without an id (a notification, or an id we could not find) there is no call to fail: the caller's
    // onerror logs it and the line is dropped.
    if (id === undefined) throw new Error(`${message}; dropped`);
    return { jsonrpc: '2.0', id, error: { code: -32000, message } };
  }

  clear(): void {
    this.#parts = [];
    this.#size = 0;
    this.#skipping = undefined;
    this.#ready.length = 0;
  }

  #take(part: Buffer): void {
    if (!part.length) return;
    if (this.#skipping) {
      this.#skipping.size += part.length;
      this.#skipping.tail = lastBytes(Buffer.concat([this.#skipping.tail, part]));
      return;
    }
    this.#parts.push(part);
    this.#size += part.length;
    if (this.#size > this.maxLineBytes) {
      const all = Buffer.concat(this.#parts);
      this.#skipping = {
        size: all.length,
        head: Buffer.from(all.subarray(0, EDGE_BYTES)),
        tail: Buffer.from(lastBytes(all)),
      };
      this.#parts = [];
      this.#size = 0;
    }
  }

  #endLine(): void {
    const skipped = this.#skipping;
    if (skipped) {
      this.#skipping = undefined;
      this.#ready.push({
        oversized: skipped.size,
        head: skipped.head.toString('utf8'),
        tail: skipped.tail.toString('utf8'),
      });
      return;
    }
    const line = Buffer.concat(this.#parts).toString('utf8');
    this.#parts = [];
    this.#size = 0;
    if (line.trim()) this.#ready.push({ line });
  }
}

function lastBytes(buffer: Buffer): Buffer {
  return buffer.length > EDGE_BYTES ? buffer.subarray(buffer.length - EDGE_BYTES) : buffer;
}

function parseId(text: string, pattern: RegExp): string | number | undefined {
  const match = pattern.exec(text)?.[1];
  if (match === undefined) return undefined;
  try {
    return JSON.parse(match) as string | number;
  } catch {
    return undefined;
  }
}

/**
 * Puts a LineReadBuffer into an SDK StdioClientTransport (before start). The transport keeps its reader in
 * the private field `_readBuffer` (SDK 1.32.2 and 2.4.0); returns false when that field is not there, so that an SDK
 * upgrade that moves it is noticed by the test of this fault rather than silently reverting to the old limit.
 */
export function limitStdioLines(transport: object, reader: LineReadBuffer): boolean {
  const holder = transport as { _readBuffer?: unknown };
  if (!holder._readBuffer || typeof (holder._readBuffer as { append?: unknown }).append !== 'function')
    return false;
  holder._readBuffer = reader;
  return true;
}
