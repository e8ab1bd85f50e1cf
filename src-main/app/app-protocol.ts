// The app's pages come from a custom scheme, `app://gateway/…`, not file:// (Electron security checklist:
// file:// pages get extra privileges and share one origin). The scheme is registered as privileged before
// `ready` (standard + secure, so the page is a secure context with its own origin and a CSP applies) and
// served with `protocol.handle` from the built renderer folder only.
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';

import type { ProtocolPort } from './electron-ports.js';

export const APP_SCHEME = 'app';
export const APP_HOST = 'gateway';
/** The origin of every page of the app; IPC accepts calls from frames of this origin only. */
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;

/** The same policy the web host sends: scripts, styles and everything else from the app itself only. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

/** Must run before `app` is ready (Electron refuses it later). */
export function registerAppScheme(protocol: ProtocolPort): void {
  protocol.registerSchemesAsPrivileged([
    { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } },
  ]);
}

/**
 * Answers one request of the app scheme from `rendererDir`: only GET, only host `gateway`, only files
 * inside the folder (no `..` escape), each with the CSP header. `/` is index.html.
 */
export async function rendererResponse(rendererDir: string, request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.host !== APP_HOST) return new Response('Not found', { status: 404 });
  const relative = normalize(decodeURIComponent(url.pathname === '/' ? '/index.html' : url.pathname));
  const path = join(rendererDir, relative);
  if (!path.startsWith(rendererDir.endsWith(sep) ? rendererDir : rendererDir + sep)) {
    return new Response('Not found', { status: 404 });
  }
  try {
    const body = await readFile(path);
    return new Response(body, {
      headers: {
        'content-type': TYPES[extname(path)] ?? 'application/octet-stream',
        'content-security-policy': CONTENT_SECURITY_POLICY,
        'x-content-type-options': 'nosniff',
      },
    });
  } catch {
    return new Response('Not found', { status: 404 });
  }
}

/** Serves the renderer on the app scheme (after `ready`). */
export function serveRenderer(protocol: ProtocolPort, rendererDir: string): void {
  protocol.handle(APP_SCHEME, (request) => rendererResponse(rendererDir, request));
}
