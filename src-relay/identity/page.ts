// The relay's few HTML pages (the built-in sign-in form, "this sign-in has expired"): self-contained, no
// script, no external asset; the one inline stylesheet is allowed by its hash, everything else by nothing
// (CSP default-src 'none').
import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';

import type { HtmlPage } from './provider.js';

const STYLE = `
body { font: 15px/1.5 system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1d2330; }
main { max-width: 22rem; margin: 12vh auto; padding: 2rem; background: #fff; border-radius: 8px;
  box-shadow: 0 1px 4px rgba(0, 0, 0, 0.12); }
h1 { font-size: 1.25rem; margin: 0 0 1rem; }
label { display: block; margin: 0.75rem 0 0.25rem; }
input { box-sizing: border-box; width: 100%; padding: 0.5rem; font: inherit; border: 1px solid #b9bfca;
  border-radius: 4px; }
.buttons { display: flex; gap: 0.5rem; margin-top: 1.25rem; }
button { flex: 1; padding: 0.55rem; font: inherit; border-radius: 4px; border: 1px solid #2f5bd3;
  background: #2f5bd3; color: #fff; cursor: pointer; }
button.secondary { background: #fff; color: #2f5bd3; }
.error { color: #b3261e; margin: 0 0 0.5rem; }
.app { background: #eef2fd; border-radius: 4px; padding: 0.5rem 0.75rem; }
`;
const STYLE_HASH = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;

export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

/**
 * A page: `body` is trusted markup (callers escape what they interpolate). `formTargets` are the origins a
 * form on the page may post to and be redirected to besides the relay itself: browsers apply form-action to
 * the redirects that follow a form post, and the sign-in form's answer redirects to the agent's loopback URL.
 */
export function htmlPage(
  status: number,
  title: string,
  body: string,
  formTargets: string[] = [],
  /** Reload the page after this many seconds (a meta refresh: the pages run no script). */
  reloadSeconds?: number,
): HtmlPage {
  const reload = reloadSeconds ? `<meta http-equiv="refresh" content="${Math.ceil(reloadSeconds)}">` : '';
  const html =
    `<!doctype html><html lang="en"><head><meta charset="utf-8">${reload}` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>` +
    `<body><main>${body}</main></body></html>`;
  const formAction = formTargets.length
    ? `form-action 'self' ${formTargets.join(' ')}`
    : "form-action 'none'";
  return {
    status,
    html,
    csp: `default-src 'none'; style-src ${STYLE_HASH}; ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
  };
}

/** A page that tells the user what happened and what to do, without a form. */
export function messagePage(status: number, title: string, message: string): HtmlPage {
  return htmlPage(status, title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>`);
}

/** The answer to a sign-in URL whose login session is unknown, expired or already finished. */
export const expiredPage = (): HtmlPage =>
  messagePage(
    400,
    'Sign-in link expired',
    'This sign-in has expired or was already finished. Start the sign-in again from MCP Assistant.',
  );

export function sendPage(res: ServerResponse, page: HtmlPage): void {
  res.writeHead(page.status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(page.html),
    'Content-Security-Policy': page.csp,
    'Cache-Control': 'no-store',
    'X-Frame-Options': 'DENY',
    'X-Content-Type-Options': 'nosniff',
    // Not no-referrer: with it browsers send `Origin: null` on the form post, which the relay refuses.
    'Referrer-Policy': 'same-origin',
  });
  res.end(page.html);
}
