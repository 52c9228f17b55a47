/**
 * APISIX-compatible Admin API for routes, so APISIX's documented curl commands work with only the
 * port changed: PUT/GET/PATCH/DELETE /apisix/admin/routes/{id}, POST and GET /apisix/admin/routes.
 * Writes go to the active store (file or etcd); secrets are masked in every answer.
 */
import { timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import type { Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import { RouteConfig, ROUTE_ID_PATTERN, validateRoute } from '../../config/route-schema';
import type { RouteBuilder, RouteStore } from '../../config/stores/route-store';
import { asSidecarError, ERROR_CODES } from '../../errors';
import { pluginsAnswer } from './plugin-schema';

export const ADMIN_ROUTES_PATH = '/apisix/admin/routes';
/** APISIX's stored key for a route, returned as `key` in answers. */
const KEY_PREFIX = '/apisix/routes/';
const MAX_ADMIN_BODY_BYTES = 1024 * 1024;
const MASK = '******';

export interface AdminApiOptions {
  /** Required on a non-loopback listener; compared with the X-API-KEY header. */
  readonly adminKey: string | undefined;
}

type Json = Record<string, unknown>;

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Where a route object keeps each secret (the object holding it, and the key in that object). */
interface SecretSlot {
  readonly field: string;
  readonly holder: Json;
  readonly key: string;
}

function objectAt(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

/** The secrets a route object (stored or as sent) carries; `secretkey` is APISIX's spelling. */
function secretSlots(route: Json): SecretSlot[] {
  const auth = objectAt(objectAt(objectAt(route.plugins)?.['aws-lambda'])?.authorization);
  if (auth === undefined) return [];
  const slots: SecretSlot[] = [];
  if (auth.apikey !== undefined) slots.push({ field: 'plugins.aws-lambda.authorization.apikey', holder: auth, key: 'apikey' });
  const iam = objectAt(auth.iam);
  for (const key of ['secret_key', 'secretkey', 'session_token']) {
    if (iam?.[key] !== undefined) slots.push({ field: `plugins.aws-lambda.authorization.iam.${key}`, holder: iam, key });
  }
  return slots;
}

/** Copies a route with every secret replaced by a mask. */
export function maskRoute(route: RouteConfig): Json {
  const copy = JSON.parse(JSON.stringify(route)) as Json;
  for (const slot of secretSlots(copy)) slot.holder[slot.key] = MASK;
  return copy;
}

/**
 * A GET answers secrets as the mask, so a client that PUTs (or PATCHes) back what it read sends the
 * mask: such a value stands for "the secret this route already has", never for a new secret. With
 * no stored secret to keep, the write is refused rather than storing the mask as a credential.
 */
function restoreMaskedSecrets(body: Json, existing: RouteConfig | undefined): void {
  const stored = existing === undefined ? undefined : (JSON.parse(JSON.stringify(existing)) as Json);
  const storedSlots = stored === undefined ? [] : secretSlots(stored);
  for (const slot of secretSlots(body)) {
    if (slot.holder[slot.key] !== MASK) continue;
    // A stored route is validated, so its IAM secret is spelled `secret_key` (a PATCH's merged
    // object may then hold both spellings: keep one).
    const key = slot.key === 'secretkey' ? 'secret_key' : slot.key;
    const secret = storedSlots.find((s) => s.key === key)?.holder[key];
    if (typeof secret !== 'string') {
      throw new BadRequest(
        `invalid configuration: ${slot.field} is "${MASK}", the mask the Admin API answers in place of a secret, ` +
          'and this route has no stored value to keep: send the real secret',
      );
    }
    delete slot.holder[slot.key];
    slot.holder[key] = secret;
  }
}

function item(route: RouteConfig): Json {
  return { key: `${KEY_PREFIX}${route.id}`, value: maskRoute(route) };
}

/** RFC 7396 JSON merge patch (APISIX's PATCH semantics: objects merge, null deletes, arrays replace). */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const base: Json = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Json) } : {};
  for (const [k, v] of Object.entries(patch as Json)) {
    if (v === null) delete base[k];
    else base[k] = mergePatch(base[k], v);
  }
  return base;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_ADMIN_BODY_BYTES) {
        // Answer 413 and drain the rest: destroying the socket would reset it under the client.
        reject(new BadRequest(`invalid request body: larger than ${MAX_ADMIN_BODY_BYTES} bytes`, 413));
        req.removeAllListeners('data');
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

class BadRequest extends Error {
  constructor(message: string, readonly status = 400) {
    super(message);
  }
}

/** The route a request names does not exist (APISIX's 404 body). */
class KeyNotFound extends Error {}

/**
 * Parses an Admin API body. APISIX's own examples carry a trailing comma (`"apikey": "...",}`),
 * which strict JSON refuses; YAML's flow syntax is a JSON superset that accepts it.
 */
function parseBody(text: string): Json {
  let value: unknown;
  try {
    value = parseYaml(text, { uniqueKeys: true, maxAliasCount: 0 });
  } catch (err) {
    throw new BadRequest(`invalid request body: ${(err as Error).message.split('\n')[0]}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BadRequest('invalid request body: expected a JSON object');
  return value as Json;
}

let idCounter = 0;
/** APISIX-like generated ids: digits only, increasing. */
function generateId(): string {
  idCounter = (idCounter + 1) % 1000;
  return `${Date.now()}${String(idCounter).padStart(3, '0')}`;
}

/**
 * Browsers send a cross-origin POST with one of these content types without asking first (no
 * CORS preflight), so a web page could write routes through a key-less loopback Admin API. No
 * API client sends a route as text/plain or multipart. (application/x-www-form-urlencoded is
 * what `curl -d` sends, as in APISIX's documented commands, so it stays accepted; a browser
 * sending it is recognised by its Origin / Sec-Fetch-Site headers instead.)
 */
const BROWSER_ONLY_CONTENT_TYPES: ReadonlySet<string> = new Set(['text/plain', 'multipart/form-data']);

/**
 * Why a request comes from a web page, or undefined. Browsers add `Origin` to every cross-origin
 * request (and to every POST), and `Sec-Fetch-Site` to every request, `none` only for one the
 * user typed; curl and SDKs send neither. The Admin API serves no page, so no page may call it.
 */
function browserPageRequest(req: http.IncomingMessage): string | undefined {
  if (req.headers.origin !== undefined) return `it carries an Origin header (${req.headers.origin})`;
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'none') return `it carries Sec-Fetch-Site: ${String(site)}`;
  return undefined;
}

function keysMatch(given: string, expected: Buffer): boolean {
  const g = Buffer.from(given);
  return g.length === expected.length && timingSafeEqual(g, expected);
}

export function createAdminApi(store: RouteStore, log: Logger, opts: AdminApiOptions): http.Server {
  const key = opts.adminKey === undefined ? undefined : Buffer.from(opts.adminKey);

  const validate = (body: Json, id: string, existing: RouteConfig | undefined): RouteConfig => {
    if (body.id !== undefined && String(body.id) !== id) throw new BadRequest(`invalid configuration: id in the body ("${String(body.id)}") does not match the id in the path ("${id}")`);
    restoreMaskedSecrets(body, existing);
    const now = Math.floor(Date.now() / 1000);
    try {
      // The times are ours to set, whatever the body says (as in APISIX).
      return validateRoute({ ...body, id, create_time: existing?.create_time ?? now, update_time: now }, id);
    } catch (err) {
      throw new BadRequest(`invalid configuration: ${(err as Error).message}`);
    }
  };

  /** Validation and merging run inside the store's write queue, on the route stored at that moment. */
  const write = async (res: http.ServerResponse, id: string, build: RouteBuilder): Promise<void> => {
    const { created, route } = await store.update(id, build);
    log.info({ route: route.id, created, store: store.description }, 'admin: route written');
    send(res, created ? 201 : 200, item(route));
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://admin');
    const fromPage = browserPageRequest(req);
    if (fromPage !== undefined) {
      req.resume();
      log.warn({ method: req.method, path: url.pathname, origin: req.headers.origin, secFetchSite: req.headers['sec-fetch-site'] }, 'admin: refused a request from a web page');
      send(res, 403, { error_msg: `refused: this request comes from a web page (${fromPage}); the Admin API is for API clients such as curl` });
      return;
    }
    const contentType = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (BROWSER_ONLY_CONTENT_TYPES.has(contentType)) {
      req.resume();
      send(res, 415, { error_msg: `unsupported Content-Type ${contentType}: send the route as application/json` });
      return;
    }
    if (key !== undefined) {
      const given = req.headers['x-api-key'];
      if (typeof given !== 'string' || !keysMatch(given, key)) {
        req.resume();
        send(res, 401, { message: 'failed to check token' });
        return;
      }
    }
    const path = url.pathname.replace(/\/+$/, '');
    const method = req.method ?? 'GET';
    const plugins = pluginsAnswer(method, path);
    if (plugins !== undefined) {
      req.resume();
      send(res, plugins.status, plugins.body);
      return;
    }
    let id: string | undefined;
    if (path === ADMIN_ROUTES_PATH) id = undefined;
    else if (path.startsWith(`${ADMIN_ROUTES_PATH}/`)) {
      try {
        id = decodeURIComponent(path.slice(ADMIN_ROUTES_PATH.length + 1));
      } catch {
        req.resume();
        send(res, 400, { error_msg: `invalid route id in ${url.pathname}: malformed percent-encoding` });
        return;
      }
    } else {
      req.resume();
      send(res, 404, { error_msg: `not found: ${url.pathname} (this Admin API serves ${ADMIN_ROUTES_PATH})` });
      return;
    }
    if (id !== undefined && !ROUTE_ID_PATTERN.test(id)) {
      req.resume();
      send(res, 400, { error_msg: `invalid route id "${id}": use 1 to 64 characters of a-z, A-Z, 0-9, "-", "_" and "."` });
      return;
    }
    const current = (): RouteConfig | undefined => store.routes().find((r) => r.id === id);

    if (id === undefined) {
      if (method === 'GET') {
        const list = store.routes().map(item);
        send(res, 200, { total: list.length, list });
        return;
      }
      if (method === 'POST') {
        const body = parseBody(await readBody(req));
        if (body.id !== undefined) throw new BadRequest('invalid configuration: POST generates the id; use PUT /apisix/admin/routes/{id} to choose one');
        const newId = generateId();
        await write(res, newId, () => validate(body, newId, undefined));
        return;
      }
    } else {
      switch (method) {
        case 'GET': {
          const route = current();
          if (route === undefined) send(res, 404, { message: 'Key not found' });
          else send(res, 200, item(route));
          return;
        }
        case 'PUT': {
          const body = parseBody(await readBody(req));
          await write(res, id, (existing) => validate(body, id, existing));
          return;
        }
        case 'PATCH': {
          const patch = parseBody(await readBody(req));
          const routeId = id;
          await write(res, id, (existing) => {
            if (existing === undefined) throw new KeyNotFound();
            // Secrets are never returned, so a patch is applied to the stored route, not a masked copy.
            const merged = mergePatch(JSON.parse(JSON.stringify(existing)), patch) as Json;
            return validate(merged, routeId, existing);
          });
          return;
        }
        case 'DELETE': {
          req.resume();
          const deleted = await store.remove(id);
          if (!deleted) {
            send(res, 404, { message: 'Key not found' });
            return;
          }
          log.info({ route: id, store: store.description }, 'admin: route deleted');
          send(res, 200, { deleted: '1', key: `${KEY_PREFIX}${id}` });
          return;
        }
        default:
          break;
      }
    }
    req.resume();
    send(res, 405, { error_msg: `method ${method} not allowed on ${url.pathname}` });
  };

  return http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof KeyNotFound) {
        send(res, 404, { message: 'Key not found' });
        return;
      }
      if (err instanceof BadRequest) {
        send(res, err.status, { error_msg: err.message });
        return;
      }
      const e = asSidecarError(err);
      // A store's own refusals (409: a change the write has not seen, a hand edit of the routes
      // file or another sidecar's write) are the client's to resolve; anything else is the store
      // failing.
      const status = e.status === 409 || e.status >= 500 ? e.status : 500;
      if (status < 500) log.warn({ code: e.code, store: store.description }, `admin: ${e.message}`);
      else log.error({ code: e.code, store: store.description, err: e.code === ERROR_CODES.INTERNAL ? err : undefined }, `admin: ${e.message}`);
      send(res, status, { error_msg: e.message });
    });
  });
}
