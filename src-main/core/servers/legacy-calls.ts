// Remote clients' calls to a 2025-era local server, sent on the SDK client's own transport but answered without
// the SDK client's per-request machinery (issue 11, "Faster where it is local").
//
// Why not `client.request()`: for every call it validates the answer three times with zod (the stdio reader's
// JSON-RPC message schema, the protocol's response-kind checks, then the caller's result schema through an
// extra promise), sets up an abort listener and a `.finally` chain, and keeps its own bookkeeping maps. The
// agent passes results through untouched (the remote client validates them), so none of that changes an
// answer; in the bench's profile of the agent (the `npm run bench` (g) path, `--cpu-prof`) the SDK client and
// zod were ~16 % of the agent's CPU, the largest items after the socket writes. What a call still needs is
// kept here: its own JSON-RPC id (out of the SDK's range, so the two never meet), its timeout, its
// cancellation (`notifications/cancelled` to the server, as the SDK sends), and its failure when the
// connection closes. Everything else the SDK client keeps doing: the handshake, the server's own requests
// during a call (sampling, elicitation, roots), its notifications (progress included), and every method this
// module does not pass through (PASS_THROUGH_METHODS).
import {
  type JSONRPCMessage,
  ProtocolError,
  SdkError,
  SdkErrorCode,
  type Transport,
} from '@modelcontextprotocol/client';

import { isObject } from '../../../src-shared/wire.js';

/**
 * The client→server methods of the 2025 era passed through (MCP 2025-11-25 schema, ClientRequest): requests the
 * SDK client would send as they are in that era. Any other method (2026-07-28 only, an extension, initialize)
 * goes through the SDK client, which checks it against the negotiated era.
 */
export const PASS_THROUGH_METHODS: ReadonlySet<string> = new Set([
  'ping',
  'tools/call',
  'tools/list',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'resources/subscribe',
  'resources/unsubscribe',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'logging/setLevel',
]);

/**
 * JSON-RPC ids of passed-through requests: integers in [FIRST_ID, FIRST_ID + ID_SPAN), wrapping around. The SDK
 * client numbers its own requests from 0 (a connection sends a handful: initialize, the counts' listings), so
 * the two ranges never meet; ids stay within a signed 32-bit integer for servers that keep them as one.
 */
const FIRST_ID = 1_000_000_000;
const ID_SPAN = 1_000_000_000;

/**
 * Whether `message` (parsed JSON of any shape) is a well-formed answer to a passed-through request: JSON-RPC
 * 2.0, an id of our range, and either a `result` object or an `error` with an integer `code` and a string
 * `message` (the shapes the SDK's JSON-RPC message schema accepts for a response). The stdio reader hands
 * such a message on without the schema's parse (LineReadBuffer); anything else is parsed as before.
 */
export function isPassThroughResponse(message: unknown): boolean {
  const m = message as { jsonrpc?: unknown; id?: unknown; result?: unknown; error?: unknown } | null;
  if (typeof m !== 'object' || m === null || m.jsonrpc !== '2.0') return false;
  const id = m.id;
  if (typeof id !== 'number' || !(id >= FIRST_ID && id < FIRST_ID + ID_SPAN)) return false;
  if ('method' in m) return false;
  if (m.error === undefined) return isObject(m.result);
  if (m.result !== undefined || !isObject(m.error)) return false;
  return Number.isInteger(m.error['code']) && typeof m.error['message'] === 'string';
}

/**
 * What a call's cancellation offers: an AbortSignal, or a CallAbort (core/bridge/call-abort.ts), which makes no
 * AbortSignal unless asked for one.
 */
export interface CallSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

interface Pending {
  resolve(result: Record<string, unknown>): void;
  reject(error: Error): void;
  method: string;
}

/**
 * The passed-through requests on one connected transport. Built after the SDK client connected it (it wraps the
 * handlers the client installed: answers to its ids are taken here, everything else goes on to the client).
 */
export class LegacyCalls {
  readonly #transport: Transport;
  readonly #pending = new Map<number, Pending>();
  #next = 0;
  #closed = false;

  constructor(transport: Transport) {
    this.#transport = transport;
    const clientMessage = transport.onmessage;
    const clientClose = transport.onclose;
    transport.onmessage = (message, extra) => {
      const id = (message as { id?: unknown }).id;
      if (typeof id === 'number' && this.#pending.has(id) && !('method' in message))
        return this.#answer(id, message);
      clientMessage?.call(transport, message, extra);
    };
    transport.onclose = () => {
      this.#close();
      clientClose?.call(transport);
    };
  }

  /**
   * Sends `method` with `params` and resolves with the server's result as it came (a plain object; a
   * `resultType` member is dropped, as the SDK client's 2025 codec does). Rejects with the server's error as
   * the SDK's ProtocolError, with an SdkError RequestTimeout after `timeoutMs` or when `signal` aborts (the
   * server then gets `notifications/cancelled`), with SdkError ConnectionClosed when the connection ends, and
   * with SdkError InvalidResult for a result that is not an object: the errors `client.request()` gives.
   * `onresumptiontoken` (Streamable HTTP) gets each event id of the request's SSE stream, as the SDK's own option.
   */
  request(
    method: string,
    params: Record<string, unknown> | undefined,
    options: { signal: CallSignal; timeoutMs: number; onresumptiontoken?: (token: string) => void },
  ): Promise<Record<string, unknown>> {
    const { signal, timeoutMs, onresumptiontoken } = options;
    if (this.#closed) return Promise.reject(new SdkError(SdkErrorCode.NotConnected, 'Not connected'));
    if (signal.aborted) return Promise.reject(abortError(signal.reason));
    const id = FIRST_ID + (this.#next++ % ID_SPAN);
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const settle = () => {
        this.#pending.delete(id);
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
      };
      // The server stops work it was given, as the SDK client tells it (not for a call already answered).
      const cancel = (reason: unknown, error: Error) => {
        if (!this.#pending.has(id)) return;
        settle();
        this.#transport
          .send({
            jsonrpc: '2.0',
            method: 'notifications/cancelled',
            params: { requestId: id, reason: String(reason) },
          })
          .catch(() => undefined); // ignore: the connection is going; its close fails nothing more here
        reject(error);
      };
      const onAbort = () => cancel(signal.reason, abortError(signal.reason));
      const timer = setTimeout(() => {
        const error = new SdkError(SdkErrorCode.RequestTimeout, 'Request timed out', { timeout: timeoutMs });
        cancel(error, error);
      }, timeoutMs);
      signal.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(id, {
        resolve: (result) => {
          settle();
          resolve(result);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
        method,
      });
      const message = (
        params === undefined ? { method, jsonrpc: '2.0', id } : { method, params, jsonrpc: '2.0', id }
      ) as JSONRPCMessage;
      const sent = onresumptiontoken
        ? this.#transport.send(message, { onresumptiontoken })
        : this.#transport.send(message);
      sent.catch((error: unknown) => {
        this.#pending.get(id)?.reject(error instanceof Error ? error : new Error(String(error)));
      });
    });
  }

  #answer(id: number, message: JSONRPCMessage): void {
    const pending = this.#pending.get(id)!;
    const { result, error } = message as { result?: unknown; error?: unknown };
    if (error !== undefined) {
      const e = error as { code?: unknown; message?: unknown; data?: unknown };
      return pending.reject(
        ProtocolError.fromError(
          typeof e.code === 'number' ? e.code : -32603,
          typeof e.message === 'string' ? e.message : 'error',
          e.data,
        ),
      );
    }
    if (!isObject(result)) {
      return pending.reject(
        new SdkError(SdkErrorCode.InvalidResult, `Invalid result for ${pending.method}: not an object`),
      );
    }
    if (!('resultType' in result)) return pending.resolve(result);
    const { resultType: _dropped, ...rest } = result;
    pending.resolve(rest);
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const error = new SdkError(SdkErrorCode.ConnectionClosed, 'Connection closed');
    for (const pending of [...this.#pending.values()]) pending.reject(error);
  }
}

/** The SDK client's error for an aborted request: the reason itself when it is an SdkError. */
function abortError(reason: unknown): Error {
  return reason instanceof SdkError ? reason : new SdkError(SdkErrorCode.RequestTimeout, String(reason));
}
