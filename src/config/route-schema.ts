/**
 * The one schema for APISIX route objects carrying the `aws-lambda` plugin, its defaults, and the
 * validator that applies both. Validation happens once, when routes are loaded or written through
 * the Admin API; the request path never validates again.
 */
import { ConfigError } from '../errors';

export const DEFAULT_TIMEOUT_MS = 3000;
export const MIN_TIMEOUT_MS = 100;
export const DEFAULT_KEEPALIVE_POOL = 5;
export const DEFAULT_KEEPALIVE_TIMEOUT_MS = 60_000;
export const MIN_KEEPALIVE_TIMEOUT_MS = 1000;
export const DEFAULT_MAX_REQ_BODY_SIZE = 64 * 1024 * 1024;
export const DEFAULT_AWS_REGION = 'us-east-1';
export const DEFAULT_AWS_SERVICE = 'execute-api';
export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'CONNECT', 'TRACE', 'PURGE'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export interface IamAuthorization {
  readonly accesskey: string;
  readonly secret_key: string;
  /** Our extension: the session token of temporary credentials, sent as x-amz-security-token. */
  readonly session_token?: string;
  readonly aws_region: string;
  readonly service: string;
}

export interface LambdaPluginConfig {
  readonly function_uri: string;
  readonly authorization?: { readonly apikey?: string; readonly iam?: IamAuthorization };
  readonly timeout: number;
  readonly ssl_verify: boolean;
  readonly keepalive: boolean;
  readonly keepalive_pool: number;
  readonly keepalive_timeout: number;
  readonly max_req_body_size: number;
  readonly _meta?: { readonly disable?: boolean };
}

export interface RouteConfig {
  readonly id: string;
  readonly uri?: string;
  readonly uris?: readonly string[];
  readonly methods?: readonly HttpMethod[];
  readonly host?: string;
  readonly hosts?: readonly string[];
  readonly priority: number;
  /** APISIX: 1 enabled, 0 disabled (the route is kept but never matches). */
  readonly status: 0 | 1;
  readonly name?: string;
  readonly desc?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly plugins: { readonly 'aws-lambda'?: LambdaPluginConfig };
  /** Accepted so APISIX routes load unchanged; Envoy's own upstream serves such a route. */
  readonly upstream?: unknown;
  /** Unix seconds, set by the Admin API. */
  readonly create_time?: number;
  readonly update_time?: number;
}

// ---------------------------------------------------------------------------------------------
// A deliberately small schema language: enough for route objects, with messages that name the
// field and never print a secret's value.

type Schema =
  | { type: 'string'; minLength?: number; maxLength?: number; pattern?: RegExp; patternHint?: string; secret?: boolean; enum?: readonly string[] }
  | { type: 'integer'; minimum?: number; maximum?: number; enum?: readonly number[] }
  | { type: 'boolean' }
  | { type: 'array'; items: Schema; minItems?: number; uniqueItems?: boolean }
  | { type: 'map'; values: Schema }
  | { type: 'object'; properties: Record<string, Schema>; required?: readonly string[]; defaults?: Record<string, unknown>; aliases?: Record<string, string> }
  | { type: 'any-object' };

const secretString: Schema = { type: 'string', minLength: 1, secret: true };

const iamSchema: Schema = {
  type: 'object',
  properties: {
    accesskey: { type: 'string', minLength: 1 },
    secret_key: secretString,
    session_token: secretString,
    aws_region: { type: 'string', minLength: 1, pattern: /^[a-z0-9-]+$/, patternHint: 'an AWS region such as us-east-1' },
    service: { type: 'string', minLength: 1, pattern: /^[a-z0-9-]+$/, patternHint: 'an AWS service name such as execute-api or lambda' },
  },
  // APISIX's own examples and code spell it `secretkey`.
  aliases: { secretkey: 'secret_key' },
  required: ['accesskey', 'secret_key'],
  defaults: { aws_region: DEFAULT_AWS_REGION, service: DEFAULT_AWS_SERVICE },
};

const pluginSchema: Schema = {
  type: 'object',
  properties: {
    function_uri: { type: 'string', minLength: 1 },
    authorization: {
      type: 'object',
      properties: { apikey: secretString, iam: iamSchema },
    },
    timeout: { type: 'integer', minimum: MIN_TIMEOUT_MS },
    ssl_verify: { type: 'boolean' },
    keepalive: { type: 'boolean' },
    keepalive_pool: { type: 'integer', minimum: 1 },
    keepalive_timeout: { type: 'integer', minimum: MIN_KEEPALIVE_TIMEOUT_MS },
    max_req_body_size: { type: 'integer', minimum: 1 },
    _meta: { type: 'object', properties: { disable: { type: 'boolean' } } },
  },
  required: ['function_uri'],
  defaults: {
    timeout: DEFAULT_TIMEOUT_MS,
    ssl_verify: true,
    keepalive: true,
    keepalive_pool: DEFAULT_KEEPALIVE_POOL,
    keepalive_timeout: DEFAULT_KEEPALIVE_TIMEOUT_MS,
    max_req_body_size: DEFAULT_MAX_REQ_BODY_SIZE,
  },
};

const uriSchema: Schema = { type: 'string', minLength: 1, maxLength: 4096, pattern: /^\/[^\s?#]*$/, patternHint: 'a path starting with "/" (no query, no spaces)' };
// APISIX host: a domain, optionally with a leading "*." wildcard.
const hostSchema: Schema = { type: 'string', minLength: 1, maxLength: 253, pattern: /^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.?$|^\*$/, patternHint: 'a host name, optionally starting with "*."' };
export const ROUTE_ID_PATTERN = /^[a-zA-Z0-9-_.]{1,64}$/;

const routeSchema: Schema = {
  type: 'object',
  properties: {
    id: { type: 'string', pattern: ROUTE_ID_PATTERN, patternHint: '1 to 64 characters of a-z, A-Z, 0-9, "-", "_" and "."' },
    uri: uriSchema,
    uris: { type: 'array', items: uriSchema, minItems: 1, uniqueItems: true },
    methods: { type: 'array', items: { type: 'string', enum: HTTP_METHODS }, uniqueItems: true },
    host: hostSchema,
    hosts: { type: 'array', items: hostSchema, minItems: 1, uniqueItems: true },
    priority: { type: 'integer' },
    status: { type: 'integer', enum: [0, 1] },
    name: { type: 'string', minLength: 1, maxLength: 256 },
    desc: { type: 'string', maxLength: 256 },
    labels: { type: 'map', values: { type: 'string', minLength: 1, maxLength: 256 } },
    plugins: { type: 'object', properties: { 'aws-lambda': pluginSchema } },
    upstream: { type: 'any-object' },
    // Set by the Admin API (as APISIX does), so routes exported from APISIX load too.
    create_time: { type: 'integer', minimum: 0 },
    update_time: { type: 'integer', minimum: 0 },
  },
  required: ['id', 'plugins'],
  defaults: { priority: 0, status: 1 },
};

export class RouteValidationError extends ConfigError {
  constructor(readonly routeId: string | undefined, readonly field: string, readonly reason: string) {
    super(`${routeId === undefined ? 'route' : `route "${routeId}"`}: ${field === '' ? '' : `${field}: `}${reason}`);
  }
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function describe(value: unknown, secret: boolean): string {
  if (secret || typeof value === 'string' || typeof value === 'object') return typeName(value);
  return `${typeName(value)} ${String(value)}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Validates `value` against `schema`, returning a copy with defaults applied. */
function check(schema: Schema, value: unknown, field: string, routeId: string | undefined): unknown {
  const fail = (reason: string): never => {
    throw new RouteValidationError(routeId, field, reason);
  };
  switch (schema.type) {
    case 'string': {
      if (typeof value !== 'string') return fail(`must be a string (got ${describe(value, schema.secret ?? false)})`);
      if (schema.minLength !== undefined && value.length < schema.minLength) return fail(`must not be empty`);
      if (schema.maxLength !== undefined && value.length > schema.maxLength) return fail(`must be at most ${schema.maxLength} characters`);
      if (schema.enum !== undefined && !schema.enum.includes(value)) return fail(`must be one of ${schema.enum.join(', ')} (got "${value}")`);
      if (schema.pattern !== undefined && !schema.pattern.test(value)) return fail(`must be ${schema.patternHint ?? `of the form ${schema.pattern}`}${schema.secret ? '' : ` (got "${value}")`}`);
      return value;
    }
    case 'integer': {
      if (typeof value !== 'number' || !Number.isInteger(value)) return fail(`must be an integer (got ${describe(value, false)})`);
      if (schema.minimum !== undefined && value < schema.minimum) return fail(`must be >= ${schema.minimum} (got ${value})`);
      if (schema.maximum !== undefined && value > schema.maximum) return fail(`must be <= ${schema.maximum} (got ${value})`);
      if (schema.enum !== undefined && !schema.enum.includes(value)) return fail(`must be one of ${schema.enum.join(', ')} (got ${value})`);
      return value;
    }
    case 'boolean':
      if (typeof value !== 'boolean') return fail(`must be true or false (got ${describe(value, false)})`);
      return value;
    case 'array': {
      if (!Array.isArray(value)) return fail(`must be an array (got ${describe(value, false)})`);
      if (schema.minItems !== undefined && value.length < schema.minItems) return fail(`must have at least ${schema.minItems} item(s)`);
      const items = value.map((item, i) => check(schema.items, item, `${field}[${i}]`, routeId));
      if (schema.uniqueItems && new Set(items.map((i) => JSON.stringify(i))).size !== items.length) return fail('must not repeat an item');
      return items;
    }
    case 'map': {
      if (!isPlainObject(value)) return fail(`must be an object (got ${describe(value, false)})`);
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = check(schema.values, v, `${field}.${k}`, routeId);
      return out;
    }
    case 'any-object':
      if (!isPlainObject(value)) return fail(`must be an object (got ${describe(value, false)})`);
      return value;
    case 'object': {
      if (!isPlainObject(value)) return fail(`must be an object (got ${describe(value, false)})`);
      const out: Record<string, unknown> = {};
      for (const [rawKey, v] of Object.entries(value)) {
        const key = schema.aliases?.[rawKey] ?? rawKey;
        const sub = field === '' ? key : `${field}.${key}`;
        const propSchema = schema.properties[key];
        if (propSchema === undefined) {
          const known = Object.keys(schema.properties).join(', ');
          return fail(`unknown field "${rawKey}" (known fields: ${known})`);
        }
        if (key in out) {
          const other = Object.keys(value).find((k) => k !== rawKey && (schema.aliases?.[k] ?? k) === key) ?? key;
          return fail(`"${other}" and "${rawKey}" are the same field: give only one`);
        }
        out[key] = check(propSchema, v, sub, routeId);
      }
      for (const req of schema.required ?? []) {
        if (!(req in out)) throw new RouteValidationError(routeId, field === '' ? req : `${field}.${req}`, 'is required');
      }
      for (const [k, d] of Object.entries(schema.defaults ?? {})) if (!(k in out)) out[k] = d;
      return out;
    }
  }
}

function checkFunctionUri(uri: string, routeId: string): void {
  const field = 'plugins.aws-lambda.function_uri';
  let parsed: URL;
  try {
    parsed = new URL(uri);
  } catch {
    // Never echo user info: it may hold a password.
    throw new RouteValidationError(routeId, field, `is not a valid URL (got "${uri.replace(/\/\/[^/?#]*@/, '//***@')}")`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new RouteValidationError(routeId, field, `must use https or http (got "${parsed.protocol.replace(':', '')}")`);
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new RouteValidationError(routeId, field, 'must not carry user info; use authorization.apikey or authorization.iam');
  }
  if (parsed.search !== '' || parsed.hash !== '' || uri.includes('?') || uri.includes('#')) {
    throw new RouteValidationError(routeId, field, 'must not carry a query string or fragment');
  }
}

function checkUriPattern(uri: string, field: string, routeId: string): void {
  const star = uri.indexOf('*');
  if (star !== -1 && star !== uri.length - 1) {
    throw new RouteValidationError(routeId, field, `"*" is only allowed at the end of the uri (got "${uri}")`);
  }
  if (uri.split('/').some((seg) => seg.startsWith(':'))) {
    throw new RouteValidationError(routeId, field, `parameter segments such as ":name" are not supported; use a trailing "*" (got "${uri}")`);
  }
}

/**
 * Validates one APISIX route object and returns it frozen, with defaults applied.
 * `idHint` names the route in messages when the object has no usable id yet (Admin API PUT path).
 */
export function validateRoute(input: unknown, idHint?: string): RouteConfig {
  let id: string | undefined = idHint;
  if (isPlainObject(input)) {
    // APISIX accepts numeric ids in JSON bodies; they are strings everywhere else.
    if (typeof input.id === 'number' && Number.isInteger(input.id) && input.id >= 0) input = { ...input, id: String(input.id) };
    const raw = (input as Record<string, unknown>).id;
    if (typeof raw === 'string' && ROUTE_ID_PATTERN.test(raw)) id = raw;
  }
  const route = check(routeSchema, input, '', id) as RouteConfig & { uri?: string; uris?: string[] };
  if (route.uri === undefined && route.uris === undefined) throw new RouteValidationError(id, 'uri', 'is required (or give "uris")');
  if (route.uri !== undefined && route.uris !== undefined) throw new RouteValidationError(id, 'uris', 'give either "uri" or "uris", not both');
  if (route.host !== undefined && route.hosts !== undefined) throw new RouteValidationError(id, 'hosts', 'give either "host" or "hosts", not both');
  if (route.uri !== undefined) checkUriPattern(route.uri, 'uri', route.id);
  route.uris?.forEach((u, i) => checkUriPattern(u, `uris[${i}]`, route.id));
  const plugin = route.plugins['aws-lambda'];
  if (plugin !== undefined) checkFunctionUri(plugin.function_uri, route.id);
  return deepFreeze(route);
}

export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

/** Validates a whole route list: every route, then duplicate ids across the list. */
export function validateRoutes(input: unknown, where = 'routes'): readonly RouteConfig[] {
  if (!Array.isArray(input)) throw new ConfigError(`${where}: must be a list of route objects (got ${typeName(input)})`);
  const seen = new Set<string>();
  const routes = input.map((r, i) => {
    if (!isPlainObject(r)) throw new ConfigError(`${where}[${i}]: must be a route object (got ${typeName(r)})`);
    const route = validateRoute(r);
    if (seen.has(route.id)) throw new RouteValidationError(route.id, 'id', `duplicate route id (routes[${i}])`);
    seen.add(route.id);
    return route;
  });
  return Object.freeze(routes);
}
