/**
 * Validates APISIX route objects carrying the `aws-lambda` plugin against the one JSON Schema
 * (route-json-schema.ts), compiled by ajv once, and applies its defaults. Validation happens once,
 * when routes are loaded or written through the Admin API; the request path never validates again
 *. Every problem of a route (and of a list) is reported at once, each naming
 * the route, the field and what is wrong; no message ever prints a secret.
 */
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { ConfigError } from '../errors';
// A pure leaf module (it imports only errors): config checks function names with the very parser
// the Invoke target uses, so the Admin API and --check refuse what a route table build would.
import { parseFunctionName, resolveLambdaEndpoint } from './function-name';
import { FIELD_ALIASES, INVOKE_ONLY_FIELDS, patternReason, PLUGIN_NAME, ROUTE_ID_PATTERN, ROUTE_SCHEMA, type RouteConfig } from './route-json-schema';

export {
  DEFAULT_AWS_REGION,
  DEFAULT_AWS_SERVICE,
  DEFAULT_KEEPALIVE_POOL,
  DEFAULT_KEEPALIVE_TIMEOUT_MS,
  DEFAULT_MAX_REQ_BODY_SIZE,
  DEFAULT_TIMEOUT_MS,
  HTTP_METHODS,
  MIN_KEEPALIVE_TIMEOUT_MS,
  MIN_TIMEOUT_MS,
  ROUTE_ID_PATTERN,
} from './route-json-schema';
export type { HttpMethod, IamAuthorization, LambdaPluginConfig, RouteConfig } from './route-json-schema';

/** One thing wrong with a route: `route "<id>": <field>: <reason>`. */
export interface RouteProblem {
  /** `route "<id>"`, or where the route sits when it has no usable id (`routes.yaml: routes[3]`). */
  readonly route: string;
  /** Dotted path with [index] for arrays (`plugins.aws-lambda.timeout`, `uris[1]`); '' for the route itself. */
  readonly field: string;
  readonly reason: string;
}

export function problemText(p: RouteProblem): string {
  return `${p.route}: ${p.field === '' ? '' : `${p.field}: `}${p.reason}`;
}

/** Every problem found, one per line in the message. */
export class RouteValidationError extends ConfigError {
  constructor(readonly problems: readonly RouteProblem[]) {
    super(problems.map(problemText).join('\n'));
  }
}

let compiled: ValidateFunction | undefined;

function routeValidator(): ValidateFunction {
  // The JSON text of the schema, exactly what ships in schema/routes.schema.json (no TypeBox symbols).
  compiled ??= new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: true, strictRequired: false }).compile(
    JSON.parse(JSON.stringify(ROUTE_SCHEMA)) as object,
  );
  return compiled;
}

type Json = Record<string, unknown>;

function isPlainObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** The value's type, and the value itself only for numbers and booleans that are not secrets. */
function describe(value: unknown, secret: boolean): string {
  if (secret || typeof value === 'string' || typeof value === 'object') return typeName(value);
  return `${typeName(value)} ${String(value)}`;
}

function joinField(parent: string, key: string): string {
  return parent === '' ? key : `${parent}.${key}`;
}

/** JSON pointer → `plugins.aws-lambda.timeout` / `uris[1]`, walking the data to tell arrays from objects. */
function fieldOf(instancePath: string, data: unknown): string {
  if (instancePath === '') return '';
  let field = '';
  let at = data;
  for (const raw of instancePath.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(at)) {
      field += `[${key}]`;
      at = at[Number(key)];
    } else {
      field = joinField(field, key);
      at = isPlainObject(at) ? at[key] : undefined;
    }
  }
  return field;
}

const TYPE_REASONS: Readonly<Record<string, string>> = {
  string: 'must be a string',
  integer: 'must be an integer',
  boolean: 'must be true or false',
  object: 'must be an object',
  array: 'must be an array',
};

/** `[{required: ["a"]}, {required: ["b"]}]` (one of two fields) → ["a", "b"]; otherwise undefined. */
function requiredAlternatives(branches: unknown): string[] | undefined {
  if (!Array.isArray(branches)) return undefined;
  const names = branches.map((b) => (isPlainObject(b) && Array.isArray(b.required) && b.required.length === 1 && Object.keys(b).length === 1 ? b.required[0] : undefined));
  return names.every((n): n is string => typeof n === 'string') ? names : undefined;
}

function quoted(value: unknown): string {
  return typeof value === 'string' ? `"${value}"` : String(value);
}

/** Why a field is required by `dependencies` (the route schema's IAM key pairs and role fields). */
function requiredWith(given: string): string {
  const keys = given === 'accesskey' || given === 'secret_key' || given === 'secretkey';
  return `is required with "${given}"${keys ? '; leave both out to use the AWS default credential chain' : ''}`;
}

/** The field and reason of one ajv error, or undefined for an error that only summarises others. */
function explain(e: ErrorObject, data: unknown): { field: string; reason: string } | undefined {
  const at = fieldOf(e.instancePath, data);
  const parent = (e.parentSchema ?? {}) as Json;
  const secret = parent.writeOnly === true;
  const p = e.params as Json;
  switch (e.keyword) {
    case 'type': {
      const types = ([] as unknown[]).concat(p.type).map(String);
      return { field: at, reason: `${types.map((t) => TYPE_REASONS[t] ?? `must be ${t}`).join(' or ')} (got ${describe(e.data, secret)})` };
    }
    case 'required':
      return { field: joinField(at, String(p.missingProperty)), reason: 'is required' };
    case 'additionalProperties': {
      const known = Object.keys((parent.properties ?? {}) as Json).join(', ');
      return { field: at, reason: `unknown field "${String(p.additionalProperty)}" (known fields: ${known})` };
    }
    case 'minimum':
      return { field: at, reason: `must be >= ${String(p.limit)} (got ${String(e.data)})` };
    case 'maximum':
      return { field: at, reason: `must be <= ${String(p.limit)} (got ${String(e.data)})` };
    case 'minLength':
      return { field: at, reason: p.limit === 1 ? 'must not be empty' : `must be at least ${String(p.limit)} characters` };
    case 'maxLength':
      return { field: at, reason: `must be at most ${String(p.limit)} characters` };
    case 'minItems':
      return { field: at, reason: `must have at least ${String(p.limit)} item(s)` };
    case 'uniqueItems':
      return { field: at, reason: 'must not repeat an item' };
    case 'enum':
      return { field: at, reason: `must be one of ${(p.allowedValues as unknown[]).map(String).join(', ')} (got ${quoted(e.data)})` };
    case 'pattern': {
      const known = patternReason(e.instancePath.slice(e.instancePath.lastIndexOf('/') + 1), String(p.pattern));
      const echo = (known?.echo ?? false) && !secret;
      return { field: at, reason: `${known?.reason ?? `must match ${String(p.pattern)}`}${echo ? ` (got "${String(e.data)}")` : ''}` };
    }
    case 'anyOf': {
      const names = requiredAlternatives(e.schema);
      if (names === undefined) return undefined; // its first branch's errors say what is wrong
      const [first, second] = names;
      // `dependencies: { accesskey: { anyOf: [secret_key, secretkey] } }`: required because of another field.
      const because = /\/dependencies\/([^/]+)\/anyOf$/.exec(e.schemaPath)?.[1];
      if (because !== undefined) return { field: joinField(at, first), reason: requiredWith(because) };
      return { field: joinField(at, first), reason: FIELD_ALIASES[second] === first ? 'is required' : `is required (or give "${second}")` };
    }
    case 'dependencies':
      return { field: joinField(at, String(p.missingProperty)), reason: requiredWith(String(p.property)) };
    case 'not': {
      const both = isPlainObject(e.schema) && Array.isArray(e.schema.required) ? e.schema.required.map(String) : undefined;
      if (both?.length === 2) return { field: joinField(at, both[1]), reason: `give either "${both[0]}" or "${both[1]}", not both` };
      return { field: at, reason: 'is not allowed here' };
    }
    default:
      return { field: at, reason: e.message ?? 'is invalid' };
  }
}

/**
 * ajv's errors → one problem per field. An `anyOf` reports through its first branch only (the id:
 * "must be a string"), or, when it offers alternative fields, as one "is required".
 */
function problemsOf(errors: readonly ErrorObject[], data: unknown, route: string): RouteProblem[] {
  const anyOfs = errors.filter((e) => e.keyword === 'anyOf');
  const hidden = (e: ErrorObject): boolean =>
    anyOfs.some((a) => {
      const branch = `${a.schemaPath}/`;
      return e.schemaPath.startsWith(branch) && (requiredAlternatives(a.schema) !== undefined || !e.schemaPath.startsWith(`${branch}0/`));
    });
  const shown = errors.filter((e) => !hidden(e));
  const problems: RouteProblem[] = [];
  const valueChecked = new Set<string>();
  for (const e of shown) {
    const explained = explain(e, data);
    if (explained === undefined) continue;
    // A value breaks one rule at a time ("must not be empty", not also "must be an AWS region").
    const perValue = !['required', 'additionalProperties', 'anyOf', 'not', 'dependencies'].includes(e.keyword);
    if (perValue) {
      if (valueChecked.has(explained.field)) continue;
      valueChecked.add(explained.field);
    }
    problems.push({ route, ...explained });
  }
  return problems;
}

/**
 * `secretkey` → `secret_key`, keeping the key order; both spellings at once is a problem (and
 * the alias is dropped). A new object: `delete` would leave V8 a slower, larger dictionary object.
 */
function readAliases(obj: Json, field: string, route: string, problems: RouteProblem[]): Json {
  const keys = Object.keys(obj);
  if (!keys.some((k) => k in FIELD_ALIASES)) return obj;
  const out: Json = {};
  for (const k of keys) {
    const canonical = FIELD_ALIASES[k];
    if (canonical === undefined) out[k] = obj[k];
    else if (canonical in obj) {
      const [first, second] = keys.filter((key) => key === k || key === canonical);
      problems.push({ route, field, reason: `"${first}" and "${second}" are the same field: give only one` });
    } else out[canonical] = obj[k];
  }
  return out;
}

function checkFunctionUri(uri: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(uri);
  } catch {
    // Never echo user info: it may hold a password.
    return `is not a valid URL (got "${uri.replace(/\/\/[^/?#]*@/, '//***@')}")`;
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return `must use https or http (got "${parsed.protocol.replace(':', '')}")`;
  if (parsed.username !== '' || parsed.password !== '') return 'must not carry user info; use authorization.apikey or authorization.iam';
  if (parsed.search !== '' || parsed.hash !== '' || uri.includes('?') || uri.includes('#')) return 'must not carry a query string or fragment';
  return undefined;
}

function checkUriPattern(uri: string): string | undefined {
  const star = uri.indexOf('*');
  if (star !== -1 && star !== uri.length - 1) return `"*" is only allowed at the end of the uri (got "${uri}")`;
  if (uri.split('/').some((seg) => seg.startsWith(':'))) return `parameter segments such as ":name" are not supported; use a trailing "*" (got "${uri}")`;
  return undefined;
}

/** What JSON Schema cannot say: URL rules and the uri's "*" and ":param" rules, for fields the schema accepted. */
function codeChecks(route: Json, name: string, serviceGiven: boolean, problems: RouteProblem[]): void {
  const flagged = new Set(problems.map((p) => p.field));
  const check = (field: string, value: unknown, rule: (v: string) => string | undefined): void => {
    if (typeof value !== 'string' || flagged.has(field)) return;
    const reason = rule(value);
    if (reason !== undefined) problems.push({ route: name, field, reason });
  };
  check('uri', route.uri, checkUriPattern);
  if (Array.isArray(route.uris)) route.uris.forEach((u, i) => check(`uris[${i}]`, u, checkUriPattern));
  const plugin = isPlainObject(route.plugins) ? route.plugins[PLUGIN_NAME] : undefined;
  if (isPlainObject(plugin)) {
    check(`plugins.${PLUGIN_NAME}.function_uri`, plugin.function_uri, checkFunctionUri);
    invokeTargetChecks(plugin, name, serviceGiven, problems);
  }
}

/**
 * The fields of a Lambda Invoke target (`function_name`) make no sense on a `function_uri` route,
 * and the Invoke API is signed with SigV4 for service `lambda`: say so at load, naming the field.
 * `serviceGiven`: the route spelled out `authorization.iam.service` (before its default applied).
 */
function invokeTargetChecks(plugin: Json, name: string, serviceGiven: boolean, problems: RouteProblem[]): void {
  const at = (field: string): string => `plugins.${PLUGIN_NAME}.${field}`;
  if (plugin.function_name === undefined) {
    for (const field of INVOKE_ONLY_FIELDS) {
      if (plugin[field] !== undefined) problems.push({ route: name, field: at(field), reason: 'applies only with function_name (a Lambda Invoke target); remove it or use function_name instead of function_uri' });
    }
    return;
  }
  const authorization = isPlainObject(plugin.authorization) ? plugin.authorization : undefined;
  if (authorization?.apikey !== undefined) problems.push({ route: name, field: at('authorization.apikey'), reason: "is not used by Lambda's Invoke API (function_name): use authorization.iam" });
  const iam = isPlainObject(authorization?.iam) ? authorization?.iam : undefined;
  if (iam === undefined) {
    problems.push({ route: name, field: at('authorization.iam'), reason: "is required with function_name: Lambda's Invoke API takes SigV4-signed requests only" });
  } else if (serviceGiven && iam.service !== 'lambda') {
    problems.push({ route: name, field: at('authorization.iam.service'), reason: 'must be "lambda" (or left out) with function_name: the Invoke API is signed for service lambda' });
  }
  const parserCheck = (field: string, check: () => unknown): void => {
    try {
      check();
    } catch (err) {
      // The parser's message starts "route <id>: <field> "; ours names route and field already.
      problems.push({ route: name, field: at(field), reason: (err as Error).message.replace(/^route [^:]*: \S+ /, '') });
    }
  };
  const qualifier = typeof plugin.qualifier === 'string' ? plugin.qualifier : undefined;
  if (typeof plugin.function_name === 'string') {
    const functionName = plugin.function_name;
    // A qualifier problem (malformed, or differing from the ARN's) is the qualifier's.
    const field = qualifier !== undefined && !throwsFor(() => parseFunctionName('', functionName)) ? 'qualifier' : 'function_name';
    parserCheck(field, () => parseFunctionName('', functionName, qualifier));
  }
  if (typeof plugin.endpoint === 'string') {
    const endpoint = plugin.endpoint;
    parserCheck('endpoint', () => resolveLambdaEndpoint('', endpoint, 'us-east-1', {}));
  }
}

function throwsFor(f: () => unknown): boolean {
  try {
    f();
    return false;
  } catch {
    return true;
  }
}

/** APISIX accepts numeric ids in JSON bodies; they are strings everywhere else. */
function normalisedId(raw: unknown): unknown {
  return typeof raw === 'number' && Number.isInteger(raw) && raw >= 0 ? String(raw) : raw;
}

/** The id as it will be stored, when it is a valid one. */
function usableId(raw: unknown): string | undefined {
  const id = normalisedId(raw);
  return typeof id === 'string' && ROUTE_ID_PATTERN.test(id) ? id : undefined;
}

/**
 * Checks one route object. `where` names it when it has no usable id: the Admin API's path id, or
 * its place in a list.
 */
function checkRoute(input: unknown, where: string): { route: RouteConfig | undefined; problems: RouteProblem[] } {
  if (!isPlainObject(input)) return { route: undefined, problems: [{ route: where, field: '', reason: `must be an object (got ${typeName(input)})` }] };
  const copy = structuredClone(input);
  if ('id' in copy) copy.id = normalisedId(copy.id);
  const id = usableId(copy.id);
  const name = id === undefined ? where : `route "${id}"`;
  const problems: RouteProblem[] = [];
  const plugin = isPlainObject(copy.plugins) ? copy.plugins[PLUGIN_NAME] : undefined;
  const authorization = isPlainObject(plugin) ? plugin.authorization : undefined;
  const iam = isPlainObject(authorization) ? authorization.iam : undefined;
  if (isPlainObject(iam)) (authorization as Json).iam = readAliases(iam, `plugins.${PLUGIN_NAME}.authorization.iam`, name, problems);
  const serviceGiven = isPlainObject(iam) && iam.service !== undefined;
  const validate = routeValidator();
  if (!validate(copy)) problems.push(...problemsOf(validate.errors ?? [], copy, name));
  codeChecks(copy, name, serviceGiven, problems);
  return { route: problems.length === 0 ? deepFreeze(copy as unknown as RouteConfig) : undefined, problems };
}

/**
 * Validates one APISIX route object and returns it frozen, with defaults applied; throws a
 * RouteValidationError listing every problem. `idHint` names the route in messages when the
 * object has no usable id (Admin API PUT path).
 */
export function validateRoute(input: unknown, idHint?: string): RouteConfig {
  const { route, problems } = checkRoute(input, idHint === undefined ? 'route' : `route "${idHint}"`);
  if (route === undefined) throw new RouteValidationError(problems);
  return route;
}

export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

/** Validates a whole route list: every route, then duplicate ids across the list; all problems at once. */
export function validateRoutes(input: unknown, where = 'routes'): readonly RouteConfig[] {
  if (!Array.isArray(input)) throw new RouteValidationError([{ route: where, field: '', reason: `must be a list of route objects (got ${typeName(input)})` }]);
  const seen = new Set<string>();
  const problems: RouteProblem[] = [];
  const routes: RouteConfig[] = [];
  input.forEach((r: unknown, i) => {
    const at = `${where}[${i}]`;
    if (!isPlainObject(r)) {
      problems.push({ route: at, field: '', reason: `must be a route object (got ${typeName(r)})` });
      return;
    }
    const checked = checkRoute(r, at);
    problems.push(...checked.problems);
    const id = usableId(r.id);
    if (id === undefined) return;
    if (seen.has(id)) problems.push({ route: `route "${id}"`, field: 'id', reason: `duplicate route id (routes[${i}])` });
    seen.add(id);
    if (checked.route !== undefined) routes.push(checked.route);
  });
  if (problems.length > 0) throw new RouteValidationError(problems);
  return Object.freeze(routes);
}
