// Expected failures are values with a code and a message that names the cause and the fix (DESIGN.md,
// "Errors are values at the edges"). Fronts map the code to an exit status or a UI state.

export type ErrorCode =
  | 'config-invalid' // mcp.json or the state file cannot be parsed or validated
  | 'config-io' // a file could not be read or written
  | 'setting-invalid' // an environment/.env/state/flag value has the wrong type
  | 'server-failed' // a local MCP server could not start
  | 'auth-failed' // signing in, refreshing or signing out failed
  | 'usage'; // the command line asks for something that does not exist

export class GatewayError extends Error {
  override readonly name = 'GatewayError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export type Result<T> = { ok: true; value: T } | { ok: false; code: ErrorCode; message: string };

/** The message of anything thrown, without a stack. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * Why a `fetch` failed, when `error` is fetch's own bare "fetch failed" TypeError (Node's undici): its cause's
 * code (`ECONNREFUSED`, `ENOTFOUND`, `UND_ERR_CONNECT_TIMEOUT`…) or message; undefined for any other error.
 */
export function fetchFailure(error: unknown): string | undefined {
  if (!(error instanceof TypeError) || error.message !== 'fetch failed') return undefined;
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
  if (typeof cause?.code === 'string') return cause.code;
  return typeof cause?.message === 'string' ? cause.message : 'no connection';
}
