#!/usr/bin/env node
// npm run demo:browser: a static server for the browser demo (demo/browser/), on 127.0.0.1.
//
// It serves the repository's demo/, dist/, build/ and js/ (js/ only for the source maps) with
// the two headers that make a page cross-origin isolated (crossOriginIsolated === true), which
// a browser requires before it lets a page share a SharedArrayBuffer (the bus memory) with a
// worker:
//   Cross-Origin-Opener-Policy: same-origin
//   Cross-Origin-Embedder-Policy: require-corp
// Only GET and HEAD; no directory listings (a directory serves its index.html); nothing outside
// those four folders, and no path that resolves (symlinks included) outside the repository.
//
// Environment: PORT (default 8787; 0 picks a free port), HOST (default 127.0.0.1).
// tests/browser/browser.test.mjs imports startServer() from here.
import { createServer } from 'node:http';
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/[\\/]$/, '');
const SERVED = ['demo', 'dist', 'build', 'js'];
const START = '/demo/browser/';

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.ts': 'text/plain; charset=utf-8',
  '.d.ts': 'text/plain; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-store',
};

function reply(res, status, text, extra = {}) {
  res.writeHead(status, { ...ISOLATION, 'Content-Type': 'text/plain; charset=utf-8', ...extra });
  res.end(res.req.method === 'HEAD' ? undefined : `${status} ${text}\n`);
}

/** The file a request path names, or null when it is not one we serve. */
async function resolvePath(pathname) {
  let decoded;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return null; // malformed %-escape
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  const parts = decoded.split('/').filter(Boolean);
  if (parts.some((p) => p === '..' || p === '.') || !SERVED.includes(parts[0])) return null;
  const full = resolve(ROOT, ...parts);
  if (!full.startsWith(ROOT + sep)) return null;
  try {
    const real = await realpath(full); // a symlink must not lead out of the repository
    return real.startsWith(ROOT + sep) ? real : null;
  } catch {
    return null;
  }
}

async function handle(req, res) {
  if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, 'Method Not Allowed', { Allow: 'GET, HEAD' });
  let url;
  try {
    url = new URL(req.url, 'http://localhost');
  } catch {
    return reply(res, 400, 'Bad Request');
  }
  if (url.pathname === '/' || url.pathname === '/index.html') {
    res.writeHead(302, { ...ISOLATION, Location: START + url.search });
    return res.end();
  }
  let file = await resolvePath(url.pathname);
  if (!file) return reply(res, 404, 'Not Found');
  let st = await stat(file);
  if (st.isDirectory()) {
    if (!url.pathname.endsWith('/')) {
      const clean = '/' + url.pathname.split('/').filter(Boolean).join('/') + '/'; // never '//host'
      res.writeHead(301, { ...ISOLATION, Location: clean + url.search });
      return res.end();
    }
    file = await resolvePath(url.pathname + 'index.html');
    if (!file) return reply(res, 404, 'Not Found');
    st = await stat(file);
  }
  if (!st.isFile()) return reply(res, 404, 'Not Found');
  const type = MIME[file.endsWith('.d.ts') ? '.d.ts' : extname(file).toLowerCase()] ?? 'application/octet-stream';
  res.writeHead(200, { ...ISOLATION, 'Content-Type': type, 'Content-Length': st.size });
  if (req.method === 'HEAD') return res.end();
  createReadStream(file).on('error', () => res.destroy()).pipe(res);
}

/**
 * Start the server; resolves to { server, port, url, close() } once it listens.
 * `port` 0 picks a free port.
 */
export function startServer({ port = 8787, host = '127.0.0.1' } = {}) {
  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) reply(res, 500, 'Internal Server Error');
      else res.destroy();
    });
  });
  return new Promise((resolveStart, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const actual = server.address().port;
      resolveStart({
        server,
        port: actual,
        url: `http://${host}:${actual}${START}`,
        close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
      });
    });
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const port = process.env.PORT === undefined || process.env.PORT === '' ? 8787 : Number(process.env.PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`PORT must be an integer 0..65535, not ${JSON.stringify(process.env.PORT)}`);
    process.exit(2);
  }
  const { url } = await startServer({ port, host: process.env.HOST || '127.0.0.1' });
  console.log(`wasmbus browser demo: ${url}  (twin engine: ${url}?engine=twin)`);
  console.log('serving demo/, dist/, build/ (run npm run build first) with COOP/COEP; Ctrl-C stops');
}
