/**
 * HTTP handlers for Express (or plain `node:http`): the metrics endpoint in
 * JSON or Prometheus text, per-request `Server-Timing`, and the dashboard.
 * They use only what Express's request and response inherit from node:http,
 * so Express is not a dependency of the plugin.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { dashboardPage } from './dashboard-page';
import { type Metrics, RequestTiming } from '../metrics/metrics';

/** A connect-style handler: what `app.use()` and `app.get()` take. */
export type Middleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

/** Options of `cache.metricsMiddleware()`. */
export interface MetricsMiddlewareOptions {
  /**
   * The prom-client registry the Prometheus format is rendered from. Pass
   * your app's registry (after `cache.registerMetrics(registry)`) to serve
   * everything on one endpoint.
   * @default a registry holding only the cache's metrics
   */
  registry?: Registry;
}

/** Path and query of a request, relative to where the handler is mounted. */
function target(req: IncomingMessage): URL {
  return new URL(req.url ?? '/', 'http://localhost');
}

/** Whether the client asked for Prometheus's text format rather than JSON. */
function wantsPrometheus(req: IncomingMessage, url: URL): boolean {
  const format = url.searchParams.get('format');
  if (format) return format === 'prometheus';
  const accept = String(req.headers.accept ?? '');
  // Prometheus sends `text/plain;version=0.0.4` (or OpenMetrics first); a
  // browser sends text/html before */*, and gets JSON.
  return /\b(text\/plain|application\/openmetrics-text)\b/.test(accept) && !/\btext\/html\b/.test(accept);
}

function sendJson(res: ServerResponse, body: unknown): void {
  res.statusCode = 200;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(JSON.stringify(body));
}

/** The metrics endpoint: `snapshot()` as JSON, or the registry in Prometheus text. */
export function metricsHandler(metrics: Metrics, registry: () => Registry): Middleware {
  return (req, res, next) => {
    const url = target(req);
    if (!wantsPrometheus(req, url)) {
      sendJson(res, metrics.snapshot());
      return;
    }
    const chosen = registry();
    chosen.metrics().then(
      (text) => {
        res.statusCode = 200;
        res.setHeader('Content-Type', chosen.contentType);
        res.setHeader('Cache-Control', 'no-store');
        res.end(text);
      },
      (error: unknown) => next(error),
    );
  };
}

/** Milliseconds with three decimals, as Server-Timing's `dur`. */
const ms = (seconds: number) => (seconds * 1000).toFixed(3);

/** The `Server-Timing` entries of one request's cached reads. */
export function serverTimingValue(timing: RequestTiming): string {
  const entries = [
    `cache-hit;desc="${timing.hits} cache hit${timing.hits === 1 ? '' : 's'}";dur=${ms(timing.hitSeconds)}`,
    `cache-miss;desc="${timing.misses} cache miss${timing.misses === 1 ? '' : 'es'}, ${timing.dbQueries} SQL";dur=${ms(timing.missSeconds)}`,
  ];
  return entries.join(', ');
}

/**
 * Adds a `Server-Timing` header to every response: how many cached reads
 * the request made, how many the cache answered, and the time each group
 * took (summed: concurrent reads overlap). Browser devtools show it in the
 * request's Timing tab.
 */
export function serverTimingHandler(metrics: Metrics): Middleware {
  return (_req, res, next) => {
    const timing = new RequestTiming();
    // Headers are final at writeHead, which Node also calls implicitly on the
    // first write (the technique of the on-headers package).
    const writeHead = res.writeHead;
    res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
      if (!this.headersSent) {
        const existing = this.getHeader('Server-Timing');
        const value = serverTimingValue(timing);
        this.setHeader('Server-Timing', existing ? `${String(existing)}, ${value}` : value);
      }
      return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
    } as ServerResponse['writeHead'];
    metrics.track(timing, () => next());
  };
}

/** Options of `cache.dashboard()`. */
export interface DashboardOptions {
  /** How often the page polls the metrics, in milliseconds. @default 2000 */
  pollMs?: number;
  /** The page's title. @default 'sequelize-orm-cache' */
  title?: string;
}

/**
 * The dashboard, as a router to mount (`app.use('/cache', cache.dashboard())`):
 * `GET /` is one self-contained page (no external scripts, styles or fonts),
 * which polls `GET /metrics.json` (the snapshot).
 */
export function dashboardHandler(metrics: Metrics, options: DashboardOptions = {}): Middleware {
  const pollMs = options.pollMs ?? 2000;
  const title = options.title ?? 'sequelize-orm-cache';
  return (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    const url = target(req);
    if (url.pathname === '/metrics.json') return sendJson(res, metrics.snapshot());
    if (url.pathname !== '/' && url.pathname !== '/index.html') return next();
    // Express sets baseUrl to the mount path; the page fetches its JSON from
    // there, so it works whether or not the URL has a trailing slash.
    const base = (req as IncomingMessage & { baseUrl?: string }).baseUrl ?? '';
    res.statusCode = 200;
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.end(dashboardPage({ title, pollMs, source: `${base}/metrics.json` }));
  };
}
