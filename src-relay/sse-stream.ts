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

export function openSse(res: ServerResponse, headers: Record<string, string> = {}, retryMs = 3000): void {
  res.writeHead(200, { ...SSE_HEADERS, ...headers });
  res.write(`retry: ${retryMs}\n\n`);
}

/**
 * Bytes a stream may have queued and unsent (its client is not reading) before the next event drops it: a
 * client that stops reading must not grow the relay's memory without bound. A dropped 2025-era stream can be
 * resumed with Last-Event-ID from its session's log (mcp-sessions.ts), which is bounded below this.
 */
export const MAX_SSE_BACKLOG_BYTES = 8 * 1024 * 1024;

/** Writes one event; drops the stream instead when its client has left more than MAX_SSE_BACKLOG_BYTES unread. */
export function writeEvent(res: ServerResponse, data: string, id?: number): void {
  if (res.writableLength > MAX_SSE_BACKLOG_BYTES) {
    res.destroy();
    return;
  }
  res.write(`${id === undefined ? '' : `id: ${id}\n`}event: message\ndata: ${data}\n\n`);
}

/** The spec's priming event (2025-11-25): an id and empty data, so the client can resume from here. */
export function writePriming(res: ServerResponse, id: number): void {
  res.write(`id: ${id}\ndata: \n\n`);
}

export function writeKeepAlive(res: ServerResponse): void {
  res.write(': keep-alive\n\n');
}
