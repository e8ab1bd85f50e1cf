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

export function writeEvent(res: ServerResponse, data: string, id?: number): void {
  res.write(`${id === undefined ? '' : `id: ${id}\n`}event: message\ndata: ${data}\n\n`);
}

/** The spec's priming event (2025-11-25): an id and empty data, so the client can resume from here. */
export function writePriming(res: ServerResponse, id: number): void {
  res.write(`id: ${id}\ndata: \n\n`);
}

export function writeKeepAlive(res: ServerResponse): void {
  res.write(': keep-alive\n\n');
}
