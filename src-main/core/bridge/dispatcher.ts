// Answers one JSON-RPC message from a remote client (always a 2025-era message: the relay translates a
// 2026-07-28 client's requests) by calling a local server's SDK session, in whichever era that server speaks.
// Every client→server MCP method goes through: initialize is answered from the local server's own initialize
// result (or its server/discover advertisement); everything else is forwarded as-is with the caller's id
// restored, its progress reported back under the caller's own progress token, its cancellation passed on, and
// the server's questions during the call (2025 server requests or 2026 input_required) put to the caller.
import { ProtocolError, SdkError, SdkErrorCode } from '@modelcontextprotocol/client';

import type { JsonRpcMessage } from '../../../src-shared/wire.js';
import { SUPPORTED_PROTOCOL_VERSIONS } from '../../../src-shared/wire.js';
import { errorMessage, fetchFailure } from '../errors.js';
import type { ManagedServer, ServerRequestAsker, ServerStatus } from '../servers/managed-server.js';
import type { ActivityLog } from './activity-log.js';
import type { CallAbort } from './call-abort.js';

/** The servers a dispatcher calls: the ServerManager, or one session's own server (gateway-bridge isolate). */
export interface ServerSource {
  get(name: string): ManagedServer | undefined;
  list(): ServerStatus[];
}

export interface InvokeContext {
  /** Aborts the call. With `abort`, read only when a real AbortSignal is needed (it may be made on demand). */
  readonly signal: AbortSignal;
  /** The call's cancellation without an AbortSignal (the BridgeClient's); the dispatcher prefers it to `signal`. */
  abort?: CallAbort;
  timeoutMs: number;
  /** Sends a notification that belongs to this request (progress) back to the caller. */
  notify(payload: JsonRpcMessage): void;
  /** Asks the caller a request of the local server during this call; absent when the caller cannot be asked. */
  ask?: ServerRequestAsker;
  /** The relay's label of the caller's client session (`client_session`), when it gives one. */
  clientSession?: string;
  /**
   * `modern` when the caller is a 2026-07-28 client (the relay's `client_era`): a local server of both eras is
   * then spoken to in that era (ManagedServer.request).
   */
  clientEra?: 'modern';
  /**
   * The local server closed this call's SSE stream before its answer (SEP-1699; ManagedServer.request's
   * `onStreamClosed`): the caller may close its own client's stream too, which then resumes it.
   */
  streamClosed?: () => void;
}

/** The JSON-RPC error for an agent-side failure; -32000 as the existing agent uses. */
const rpcError = (id: JsonRpcMessage['id'], code: number, message: string, data?: unknown) => ({
  jsonrpc: '2.0' as const,
  id: id ?? null,
  error: data === undefined ? { code, message } : { code, message, data },
});

/**
 * Progress tokens put on local requests, unique in the process: several dispatchers may call the same
 * server (a reconnect builds a new one while calls of the old may still run), and a server routes progress
 * by token alone.
 */
let progressSeq = 0;

export class Dispatcher {
  constructor(
    private readonly servers: ServerSource,
    private readonly defaultProtocolVersion: string,
    /** Where each finished request is recorded (the window's Activity view); none when absent. */
    private readonly activity?: ActivityLog,
  ) {}

  /** `#handle`, with the request recorded in the activity log once it is answered. */
  async handle(
    serverName: string,
    payload: JsonRpcMessage,
    ctx: InvokeContext,
  ): Promise<Record<string, unknown>> {
    const time = Date.now();
    const response = await this.#handle(serverName, payload, ctx);
    const { id, method } = payload;
    if (this.activity && id !== undefined && id !== null && method !== undefined && method !== 'ping') {
      const params = payload.params as { name?: unknown; uri?: unknown } | undefined;
      const target = params?.name ?? params?.uri;
      const error =
        (response['error'] as { message?: string } | undefined)?.message ??
        (response['ok'] === false ? String(response['error']) : undefined);
      this.activity.add({
        time,
        server: serverName,
        ...(ctx.clientSession ? { session: ctx.clientSession } : {}),
        method,
        ...(typeof target === 'string' ? { target } : {}),
        durationMs: Date.now() - time,
        outcome: error === undefined ? 'ok' : 'error',
        ...(error === undefined ? {} : { error }),
      });
    }
    return response;
  }

  /**
   * The `result` of a result frame: the JSON-RPC response for a request, `{}` for a notification,
   * `{ok: false, error}` when the server is unknown (compat).
   */
  async #handle(
    serverName: string,
    payload: JsonRpcMessage,
    ctx: InvokeContext,
  ): Promise<Record<string, unknown>> {
    const server = this.servers.get(serverName);
    if (!server) {
      const known = this.servers.list().map((s) => s.name);
      return {
        ok: false,
        error: `unknown server "${serverName}"; this agent serves: ${known.join(', ') || 'none'}`,
      };
    }
    const { id, method } = payload;
    // Notifications (no id) and stray responses get no answer; the SDK session already sent `initialized`,
    // and cancellations are handled by the bridge, which knows which call they name.
    if (id === undefined || id === null || method === undefined) return {};

    // A server that is starting or restarting after a crash is waited for, within the call's own budget.
    // What says the call was cancelled, without making an AbortSignal for it when there is none yet.
    const cancel = ctx.abort ?? ctx.signal;
    const client = server.client ?? (await server.ready(ctx.timeoutMs, ctx.signal));
    // A call cancelled while its server was (re)starting: say so, not "not running".
    if (cancel.aborted) return rpcError(id, -32000, `cancelled: ${errorMessage(cancel.reason)}`);
    if (!client) {
      const status = server.status;
      const why = status.lastError ? `: ${status.lastError}` : '';
      return rpcError(id, -32000, `server "${serverName}" is not running (${status.state}${why})`);
    }
    try {
      if (method === 'initialize') {
        const requested = (payload.params as { protocolVersion?: unknown } | undefined)?.protocolVersion;
        const protocolVersion = SUPPORTED_PROTOCOL_VERSIONS.includes(requested as never)
          ? (requested as string)
          : this.defaultProtocolVersion;
        const instructions = client.getInstructions();
        return {
          jsonrpc: '2.0',
          id,
          result: {
            protocolVersion,
            capabilities: client.getServerCapabilities() ?? {},
            serverInfo: client.getServerVersion() ?? { name: serverName, version: '0' },
            ...(instructions === undefined ? {} : { instructions }),
          },
        };
      }
      if (method === 'ping') return { jsonrpc: '2.0', id, result: {} };

      let params = payload.params as { _meta?: { progressToken?: string | number } } | undefined;
      const progressToken = params?._meta?.progressToken;
      let unroute: (() => void) | undefined;
      if (progressToken !== undefined) {
        // Our own token on the local request (callers' tokens could collide); progress goes back to the
        // caller under its own token.
        const localToken = `gw-progress-${++progressSeq}`;
        params = { ...params, _meta: { ...params?._meta, progressToken: localToken } };
        unroute = server.routeProgress(localToken, (progress) =>
          ctx.notify({
            jsonrpc: '2.0',
            method: 'notifications/progress',
            params: { ...progress, progressToken },
          }),
        );
      }
      try {
        const result = await server.request(
          client,
          { method, params: params },
          {
            get signal() {
              return ctx.signal;
            },
            abort: ctx.abort,
            timeoutMs: ctx.timeoutMs,
            ask: ctx.ask,
            clientEra: ctx.clientEra,
            onStreamClosed: ctx.streamClosed,
          },
        );
        return { jsonrpc: '2.0', id, result };
      } finally {
        unroute?.();
      }
    } catch (error) {
      // The server's own JSON-RPC error (or the caller's answer to its question) goes back as it was.
      if (error instanceof ProtocolError) return rpcError(id, error.code, error.message, error.data);
      // The SDK reports a cancelled request as timed out: say which it was.
      if (cancel.aborted) return rpcError(id, -32000, `cancelled: ${errorMessage(cancel.reason)}`);
      // -32001 is what the 2025-era SDK answered a timed-out request with; callers may know it.
      if (error instanceof SdkError && error.code === SdkErrorCode.RequestTimeout) {
        return rpcError(id, -32001, `"${serverName}" did not answer ${method} in time: ${error.message}`);
      }
      // The server's connection ended mid-call (a stdio server exited, the agent restarted or stopped it): say
      // which server and that the call may be sent again, not only the SDK's bare "Connection closed".
      if (error instanceof SdkError && error.code === SdkErrorCode.ConnectionClosed) {
        return rpcError(
          id,
          -32000,
          `"${serverName}" closed its connection during ${method} (it exited or was restarted) before answering; ` +
            'send the call again once it is running',
        );
      }
      // An HTTP server that cannot be reached: fetch says only "fetch failed"; its cause says why.
      const why = fetchFailure(error);
      if (why !== undefined) {
        const at = server.origin === undefined ? '' : ` at ${server.origin}`;
        return rpcError(
          id,
          -32000,
          `"${serverName}" could not be reached${at} during ${method} (${why}); ` +
            'check that it is running and its url in mcp.json',
        );
      }
      return rpcError(id, -32000, errorMessage(error));
    }
  }
}
