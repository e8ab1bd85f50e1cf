// Constants of the web host's WebSocket, shared by the host (src-main/control/web-host.ts) and the page
// (src-renderer). Kept apart from control.ts so that the page's bundle does not pull in zod.

/** The WebSocket path of the control channel. */
export const CONTROL_PATH = '/control';
/** The subprotocol the page speaks. */
export const CONTROL_PROTOCOL = 'mcpassistant-control';
/** The page offers the per-run token as a second subprotocol, `token.<token>`: it is in no URL or log. */
export const TOKEN_PROTOCOL_PREFIX = 'token.';
/** The URL fragment key that carries the token to the page (`#token=…`; browsers never send fragments). */
export const TOKEN_FRAGMENT_KEY = 'token';
