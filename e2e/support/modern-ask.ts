// A raw 2026-07-28 call of the fixtures' `ask` tool (asking-server.mjs, modern-server.mjs), for tests of
// input-required rounds on the wire (modern-era, agent-eras, cluster).

/**
 * POSTs `tools/call` of `ask` to `url` as a 2026-07-28 client that declares elicitation sends it: the `_meta`
 * envelope, the protocol headers (MCP-Protocol-Version, Mcp-Method, Mcp-Name) and `headers` (a bearer). `args`
 * are the tool's arguments; `extra` goes into the call's params (`inputResponses`, `requestState`). Accepts
 * JSON and SSE. Resolves with the HTTP response as it is.
 */
export function callAsk(
  url: string | URL,
  headers: Record<string, string>,
  args: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: {
      ...headers,
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      'MCP-Protocol-Version': '2026-07-28',
      'Mcp-Method': 'tools/call',
      'Mcp-Name': 'ask',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: {
        name: 'ask',
        arguments: args,
        ...extra,
        _meta: {
          'io.modelcontextprotocol/protocolVersion': '2026-07-28',
          'io.modelcontextprotocol/clientCapabilities': { elicitation: {} },
        },
      },
    }),
  });
}
