/**
 * The dashboard's static files (src/master/dashboard/: index.html, app.js and the modules it
 * imports, style.css), read once when the master starts and served from memory with an ETag.
 * There is no build step: the files are served as they are in the source tree, whether the master
 * runs from src/ (tests) or dist/.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Handler, Routes } from './router.js';

/** URL path → file name and content type. */
const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard/chart.js': { file: 'chart.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard/format.js': { file: 'format.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/** Where the files are: beside this module's folder in src/, or back in src/ from dist/src/. */
const CANDIDATE_DIRS = ['../dashboard/', '../../../../src/master/dashboard/'];

export function dashboardDir(): string | undefined {
  for (const rel of CANDIDATE_DIRS) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(`${dir}index.html`)) return dir;
  }
  return undefined;
}

function assetRoute(dir: string | undefined, file: string, type: string): Handler {
  let body: Buffer | undefined;
  let etag = '';
  let problem = '';
  try {
    if (!dir) throw new Error(`the dashboard's files were not found (looked in ${CANDIDATE_DIRS.join(', ')} from ${fileURLToPath(new URL('.', import.meta.url))})`);
    body = readFileSync(`${dir}${file}`);
    etag = `"${createHash('sha1').update(body).digest('base64url').slice(0, 16)}"`;
  } catch (err) {
    problem = err instanceof Error ? err.message : String(err);
  }
  return (req, res) => {
    if (!body) throw new Error(problem);
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, { etag });
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': type, 'content-length': body.length, etag, 'cache-control': 'no-cache' });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}

/** GET / and the files it loads. A missing file is a 500 naming where it was looked for. */
export function dashboardRoutes(dir = dashboardDir()): Routes {
  const routes: Routes = {};
  for (const [path, { file, type }] of Object.entries(ASSETS)) routes[path] = assetRoute(dir, file, type);
  return routes;
}
