// Server-Sent Events on a Node response, as MCP Streamable HTTP uses them: `id:` for resumption, one JSON-RPC
// message per event, comments as keep-alives.
import type { ServerResponse } from 'node:http';

export const SSE_HEADERS = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache, no-transform',
  Connection: 'keep-alive',
  // Reverse proxies (nginx) otherwise buffer the stream and nothing arrives until it ends.
  'X-Accel-Buffering': 'no',
} as const;

/**
 * The `retry:` every stream starts with: how long a client waits before it reconnects or resumes a stream that
 * ended (SEP-1699: the server paces reconnection), in ms. 3 s: a POST stream the front ends mid-call belongs to
 * a call whose local server closed its own stream, so the answer comes no sooner than that server's own retry
 * interval; and the same value paces reconnection after a relay restarts or a cluster node is lost, where the
 * TypeScript SDK, once a server gave a value, retries at that fixed interval (no backoff) and only twice by
 * default: 3 tries over ~9 s outlast a restart, where 1 s would give up after 3 s.
 */
export const SSE_RETRY_MS = 3000;

/**
 * How long a new POST stream's start (head, `retry:`, priming event) is held back for the first message, in
 * ms: a call answered within it leaves in one socket write, as a JSON answer does; a slower one shows its
 * start (and its priming id, to resume from) after this.
 */
export const SSE_HOLD_MS = 50;

export function openSse(
  res: ServerResponse,
  headers: Record<string, string> = {},
  retryMs = SSE_RETRY_MS,
): void {
  res.writeHead(200, { ...SSE_HEADERS, ...headers });
  res.write(`retry: ${retryMs}\n\n`);
}

/**
 * Holds what is written on `res` (corked) until the returned function is called or `ms` pass, whichever is
 * first, so that several writes leave in one. Ending `res` releases it too (Node uncorks on end()).
 */
export function hold(res: ServerResponse, ms: number): () => void {
  res.cork();
  let timer: NodeJS.Timeout | undefined;
  const release = () => {
    if (timer === undefined) return;
    clearTimeout(timer);
    timer = undefined;
    if (!res.writableEnded && !res.destroyed) res.uncork();
  };
  timer = setTimeout(release, ms);
  return release;
}

/**
 * Bytes a stream may have queued and unsent (its client is not reading) before the next event drops it: a
 * client that stops reading must not grow the relay's memory without bound. A dropped 2025-era stream can be
 * resumed with Last-Event-ID from its session's log (mcp-sessions.ts), which is bounded below this.
 */
export const MAX_SSE_BACKLOG_BYTES = 8 * 1024 * 1024;

/** Writes one event; drops the stream instead when its client has left more than MAX_SSE_BACKLOG_BYTES unread. */
export function writeEvent(res: ServerResponse, data: string, id?: number): void {
  if (!dropped(res)) res.write(event(data, id));
}

/** Writes one last event and ends the stream, in one write (see writeEvent for the backlog). */
export function endWithEvent(res: ServerResponse, data: string, id?: number): void {
  if (!dropped(res)) res.end(event(data, id));
}

/** Destroys `res`, and says so, when its client has left more than MAX_SSE_BACKLOG_BYTES unread. */
function dropped(res: ServerResponse): boolean {
  if (res.writableLength <= MAX_SSE_BACKLOG_BYTES) return false;
  res.destroy();
  return true;
}

function event(data: string, id: number | undefined): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: message\ndata: ${data}\n\n`;
}

/** The spec's priming event (2025-11-25): an id and empty data, so the client can resume from here. */
export function writePriming(res: ServerResponse, id: number): void {
  res.write(`id: ${id}\ndata: \n\n`);
}

export function writeKeepAlive(res: ServerResponse): void {
  res.write(': keep-alive\n\n');
}
