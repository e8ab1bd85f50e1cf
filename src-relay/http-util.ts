// Small HTTP helpers shared by the relay and the MCP front.
import type { IncomingMessage, ServerResponse } from 'node:http';

import { formatBytes } from '../src-shared/wire.js';

export type Json = Record<string, unknown>;

/**
 * An expected failure of a request: its status, a message, extra headers, and the JSON-RPC error code a
 * JSON-RPC caller gets (JSON-RPC 2.0 §5.1; -32000 is the implementation-defined server error, as the SDK's
 * Streamable HTTP servers answer transport failures). The body is `{"ok": false, "error": message}` or a
 * JSON-RPC error object: see sendError.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly rpcCode = -32000,
  ) {
    super(message);
  }
}

/** A JSON-RPC 2.0 error response (§5): `id` null when the request's id could not be read. */
export function rpcError(id: string | number | null | undefined, code: number, message: string): Json {
  return { jsonrpc: '2.0', id: id ?? null, error: { code, message } };
}

/**
 * Whether the caller of an MCP route reads JSON-RPC error objects: a Streamable HTTP client lists
 * text/event-stream in Accept (spec 2025-03-26 and later, "Sending Messages to the Server" and "Listening for
 * Messages from the Server"). The existing remote's plain-JSON callers (COMPAT.md: `{"ok": false, "error"}` on
 * 401/403/404/503/504) send no such Accept and keep their body.
 */
export function expectsJsonRpc(req: IncomingMessage): boolean {
  return (header(req, 'accept') ?? '').toLowerCase().includes('text/event-stream');
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export function bearer(req: IncomingMessage): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(header(req, 'authorization') ?? '');
  return match?.[1];
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/**
 * Answers a failed request with the HttpError's status and headers, and its message as `{"ok": false,
 * "error"}` or, for a JSON-RPC caller (`jsonRpc`), as a JSON-RPC error object with id null. Returns false,
 * sending nothing, for anything but an HttpError (the caller answers 500).
 */
export function sendError(res: ServerResponse, error: unknown, jsonRpc = false): boolean {
  if (res.headersSent) {
    res.end();
    return true;
  }
  if (!(error instanceof HttpError)) return false;
  const body = jsonRpc ? rpcError(null, error.rpcCode, error.message) : { ok: false, error: error.message };
  sendJson(res, error.status, body, error.headers);
  return true;
}

/** The request body as text, refused with 413 past `limit` bytes. */
export async function readText(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) {
    throw new HttpError(413, `the body is ${formatBytes(declared)}, over the ${formatBytes(limit)} limit`);
  }
  // Events rather than `for await`: the async iterator's promise per chunk showed in the bench's profile of the
  // relay (issue 11), and a request body is nearly always one chunk.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        // The rest is not read: Node discards it once the 413 is sent.
        done();
        return reject(new HttpError(413, `the body is over the ${formatBytes(limit)} limit`));
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      done();
      resolve((chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).toString('utf8'));
    };
    const onError = (error: Error) => {
      done();
      reject(error);
    };
    const done = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

export async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const text = await readText(req, limit);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, 'the body is not valid JSON', {}, -32700);
  }
}

/** An HTML form post (application/x-www-form-urlencoded). */
export async function readForm(req: IncomingMessage, limit: number): Promise<URLSearchParams> {
  const type = header(req, 'content-type')?.split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded')
    throw new HttpError(415, 'expected a form (application/x-www-form-urlencoded)');
  return new URLSearchParams(await readText(req, limit));
}

/** The body of a /manage request: a JSON object (null, an array or a string would be read as no fields). */
export async function readJsonObject(req: IncomingMessage, limit: number): Promise<Json> {
  const body = await readJson(req, limit);
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw new HttpError(400, 'the body must be a JSON object');
  return body as Json;
}

/**
 * CORS for an Origin that passed the caller's allow-list: browser MCP clients (the Inspector's web UI, say)
 * must be able to send the bearer and the MCP headers and to read Mcp-Session-Id. Answers a preflight
 * (OPTIONS) itself and returns true; otherwise sets the headers on `res` and returns false.
 */
export function applyCors(req: IncomingMessage, res: ServerResponse): boolean {
  const origin = req.headers.origin;
  if (origin) {
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Vary', 'Origin');
    res.setHeader('Access-Control-Expose-Headers', 'Mcp-Session-Id, WWW-Authenticate');
  }
  if (req.method !== 'OPTIONS') return false;
  res.writeHead(204, {
    'Access-Control-Allow-Methods': 'GET, POST, DELETE, OPTIONS',
    'Access-Control-Allow-Headers':
      'Authorization, Content-Type, Accept, Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID',
    'Access-Control-Max-Age': '600',
  });
  res.end();
  return true;
}

/** Whether an Origin header names a page on this machine. */
export function isLoopbackOrigin(origin: URL): boolean {
  return /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/.test(origin.hostname);
}
