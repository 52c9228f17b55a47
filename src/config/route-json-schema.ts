/**
 * The route object and the `aws-lambda` plugin as JSON Schema (draft-07), following APISIX's own
 * (`apisix/schema_def.lua` for routes, `apisix/plugins/aws-lambda.lua` and
 * `serverless/generic-upstream.lua` for the plugin). Written with TypeBox so the TypeScript types
 * come from the same definitions; compiled by ajv once (route-schema.ts); shipped to editors as
 * schema/routes.schema.json and served by the Admin API. Where we differ from APISIX the
 * `description` starts with "aws-lambda-sidecar:".
 */
import { Type, type Static, type TObject, type TProperties, type TSchema } from '@sinclair/typebox';

export const DEFAULT_TIMEOUT_MS = 3000;
export const MIN_TIMEOUT_MS = 100;
export const DEFAULT_KEEPALIVE_POOL = 5;
export const DEFAULT_KEEPALIVE_TIMEOUT_MS = 60_000;
export const MIN_KEEPALIVE_TIMEOUT_MS = 1000;
export const DEFAULT_MAX_REQ_BODY_SIZE = 64 * 1024 * 1024;
/** APISIX's region default; no longer a schema default (see aws/aws-region.ts), kept for the Admin plugin schema readers. */
export const DEFAULT_AWS_REGION = 'us-east-1';
/** STS AssumeRole DurationSeconds bounds (the role's own maximum may be lower). */
export const MIN_ROLE_DURATION_SECONDS = 900;
export const MAX_ROLE_DURATION_SECONDS = 43_200;
/** Same value as aws/credential-source.ts DEFAULT_ROLE_SESSION_NAME (config does not import aws/). */
const DEFAULT_ROLE_SESSION_NAME = 'aws-lambda-sidecar';
export const DEFAULT_AWS_SERVICE = 'execute-api';
export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'CONNECT', 'TRACE', 'PURGE'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export const PLUGIN_NAME = 'aws-lambda';
/** Marks what we add to or restrict in APISIX's schema. */
const OURS = 'aws-lambda-sidecar:';

/**
 * What a failed `pattern` means, in words, so a message says "must be an AWS region..." instead of
 * printing a regular expression. Keyed by the pattern, or by `<field name>|<pattern>` where two
 * fields share a pattern. `echo: false` for values never printed back.
 */
const PATTERN_REASONS = new Map<string, { readonly reason: string; readonly echo: boolean }>();

function pattern(source: string, reason: string, opts: { echo?: boolean; field?: string } = {}): string {
  PATTERN_REASONS.set(opts.field === undefined ? source : `${opts.field}|${source}`, { reason, echo: opts.echo ?? true });
  return source;
}

export function patternReason(field: string, source: string): { readonly reason: string; readonly echo: boolean } | undefined {
  return PATTERN_REASONS.get(`${field}|${source}`) ?? PATTERN_REASONS.get(source);
}

// C0 controls and DEL: in a header value undici refuses them before sending (a YAML `apikey: |`
// block keeps a trailing newline), and no AWS credential contains one.
const NO_CONTROL_CHARACTERS = pattern('^[^\\u0000-\\u001f\\u007f]*$', 'must not contain control characters (a line break, a tab...): check for a trailing newline', { echo: false });

/** An object that refuses unknown fields; properties with a `default` are optional in input but always present after validation (ajv `useDefaults`), hence required in the type. */
function Fields<T extends TProperties>(properties: T, options: { description?: string } = {}): TObject<T> {
  const schema = Type.Object(properties, { additionalProperties: false, ...options });
  setRequired(schema, (k) => (properties[k] as TSchema).default === undefined);
  return schema;
}

/** Keeps in the schema's `required` list the names `keep` accepts (no list when none is left). */
function setRequired(schema: object, keep: (name: string) => boolean): void {
  const view = schema as unknown as { required?: string[] };
  const required = (view.required ?? []).filter(keep);
  if (required.length > 0) view.required = required;
  else delete view.required;
}

/**
 * Adds `alias` as a second spelling of `canonical` for the schema's readers (editors); validation
 * renames it first (route-schema.ts), so the type holds the canonical name only. Exactly one of the
 * two is required, unless `optional`; `extra` adds keywords (combinations of fields).
 */
function withAlias<T extends TObject>(
  schema: T,
  alias: string,
  canonical: keyof T['properties'] & string,
  why: string,
  options: { optional?: boolean; dependencies?: Record<string, string[] | object>; allOf?: object[] } = {},
): T {
  const { optional, ...extra } = options;
  const copy: T = {
    ...schema,
    properties: { ...schema.properties, [alias]: { ...schema.properties[canonical], description: `Same as ${canonical}: ${why}` } },
    ...(optional === true ? {} : { anyOf: [{ required: [canonical] }, { required: [alias] }] }),
    ...extra,
  };
  setRequired(copy, (k) => k !== canonical);
  return copy;
}

function Unsafe<T>(schema: Record<string, unknown>): TSchema & { static: T } {
  return Type.Unsafe<T>(schema);
}

function Secret(description: string): TSchema & { static: string } {
  // writeOnly (draft-07): sent, never read back: the Admin API masks it, messages never print it.
  return Type.String({ minLength: 1, pattern: NO_CONTROL_CHARACTERS, writeOnly: true, description });
}

const IAM_FIELDS = Fields(
  {
    accesskey: Type.Optional(
      Type.String({
        minLength: 1,
        pattern: NO_CONTROL_CHARACTERS,
        description: `access key id from the AWS IAM console. ${OURS} optional: without accesskey and secret_key the AWS default credential chain signs`,
      }),
    ),
    secret_key: Type.Optional(Secret(`secret access key from the AWS IAM console. ${OURS} optional, together with accesskey`)),
    session_token: Type.Optional(Secret(`${OURS} session token of temporary credentials, sent (signed) as x-amz-security-token`)),
    aws_region: Type.Optional(
      Type.String({
        minLength: 1,
        pattern: pattern('^[a-z0-9-]+$', 'must be an AWS region such as us-east-1', { field: 'aws_region' }),
        description: `the AWS region that is receiving the request. ${OURS} when absent, AWS_REGION, then AWS_DEFAULT_REGION, then us-east-1 (APISIX's default)`,
      }),
    ),
    service: Type.String({
      minLength: 1,
      pattern: pattern('^[a-z0-9-]+$', 'must be an AWS service name such as execute-api or lambda', { field: 'service' }),
      default: DEFAULT_AWS_SERVICE,
      description: 'the service that is receiving the request: execute-api for API Gateway, lambda for function URLs',
    }),
    profile: Type.Optional(
      Type.String({ minLength: 1, pattern: NO_CONTROL_CHARACTERS, description: `${OURS} a named profile of the shared AWS config/credentials files signs (not with accesskey)` }),
    ),
    role_arn: Type.Optional(
      Type.String({
        minLength: 1,
        pattern: pattern('^arn:[a-z0-9-]+:iam::[0-9]{12}:role/[\\w+=,.@/-]+$', 'must be an IAM role ARN such as arn:aws:iam::123456789012:role/name', { field: 'role_arn' }),
        description: `${OURS} assume this role through STS (in aws_region) and sign with its credentials; the route's keys, else its profile, else the default chain call STS`,
      }),
    ),
    role_session_name: Type.Optional(
      Type.String({
        pattern: pattern('^[\\w+=,.@-]{2,64}$', 'must be 2 to 64 characters of letters, digits and + = , . @ _ -', { field: 'role_session_name' }),
        description: `${OURS} STS RoleSessionName (with role_arn); default "${DEFAULT_ROLE_SESSION_NAME}"`,
      }),
    ),
    external_id: Type.Optional(
      Type.String({
        pattern: pattern('^[\\w+=,.@:/-]{2,1224}$', 'must be 2 to 1224 characters of letters, digits and + = , . @ : / _ -', { field: 'external_id' }),
        description: `${OURS} STS ExternalId the role's trust policy asks for (with role_arn)`,
      }),
    ),
    duration_seconds: Type.Optional(
      Type.Integer({
        minimum: MIN_ROLE_DURATION_SECONDS,
        maximum: MAX_ROLE_DURATION_SECONDS,
        description: `${OURS} STS DurationSeconds of the assumed role's credentials (with role_arn); STS's default 3600 when absent, and the role's maximum session duration caps it`,
      }),
    ),
  },
  { description: 'IAM authorization: the request is signed with AWS SigV4' },
);

/** `secretkey` is the spelling of APISIX's code and examples; `secret_key` that of its attribute table. */
export const FIELD_ALIASES: Readonly<Record<string, string>> = { secretkey: 'secret_key' };

/**
 * The combinations of credential fields JSON Schema can state (iam-credential-spec.ts decides
 * what they mean): keys go in pairs, a token needs keys, the role fields need role_arn, a
 * profile excludes keys.
 */
const IAM_DEPENDENCIES = {
  // Either spelling of the secret: editors read the schema with the alias still in place.
  accesskey: { anyOf: [{ required: ['secret_key'] }, { required: ['secretkey'] }] },
  secret_key: ['accesskey'],
  secretkey: ['accesskey'],
  session_token: ['accesskey'],
  role_session_name: ['role_arn'],
  external_id: ['role_arn'],
  duration_seconds: ['role_arn'],
};

export const IAM_SCHEMA = withAlias(IAM_FIELDS, 'secretkey', 'secret_key', "the spelling of APISIX's code and examples", { optional: true, dependencies: IAM_DEPENDENCIES, allOf: [{ not: { required: ['profile', 'accesskey'] } }] });

export const INVOCATION_TYPES = ['RequestResponse', 'Event', 'DryRun'] as const;
export const EVENT_FORMATS = ['apigw_v2', 'apigw_v1', 'raw'] as const;
export const LOG_TYPES = ['None', 'Tail'] as const;
/** Fields that only a Lambda Invoke target (`function_name`) reads. */
export const INVOKE_ONLY_FIELDS = ['qualifier', 'invocation_type', 'event_format', 'function_error_status', 'log_type', 'endpoint'] as const;

const PLUGIN_FIELDS = Fields(
  {
    function_uri: Type.Optional(Type.String({
      minLength: 1,
      description: `AWS API Gateway endpoint or function URL that triggers the function. ${OURS} an https:// or http:// URL without user info, query or fragment; give it or function_name`,
    })),
    function_name: Type.Optional(Type.String({
      minLength: 1,
      description: `${OURS} call Lambda's Invoke API directly (no API Gateway): a function name, a partial ARN (123456789012:function:name) or a full ARN, optionally ending in :<version or alias>; give it or function_uri. Needs authorization.iam (signed for service lambda)`,
    })),
    qualifier: Type.Optional(Type.String({ minLength: 1, description: `${OURS} with function_name: the version or alias to invoke (also accepted at the end of function_name; both given must agree)` })),
    invocation_type: Type.Optional(Unsafe<(typeof INVOCATION_TYPES)[number]>({
      type: 'string',
      enum: INVOCATION_TYPES,
      description: `${OURS} with function_name: RequestResponse (default), Event (asynchronous: answers 202 with an empty body once Lambda accepted it) or DryRun (answers 204)`,
    })),
    event_format: Type.Optional(Unsafe<(typeof EVENT_FORMATS)[number]>({
      type: 'string',
      enum: EVENT_FORMATS,
      description: `${OURS} with function_name: the event the function receives: apigw_v2 (default: HTTP API / function URL payload 2.0), apigw_v1 (REST API proxy payload 1.0) or raw (the request body as it is, {} when empty; the answer is a 200 application/json body)`,
    })),
    function_error_status: Type.Optional(Type.Integer({ minimum: 100, maximum: 599, description: `${OURS} with function_name: the status of an answer when the function raised an error (X-Amz-Function-Error); default 502` })),
    log_type: Type.Optional(Unsafe<(typeof LOG_TYPES)[number]>({
      type: 'string',
      enum: LOG_TYPES,
      description: `${OURS} with function_name: None (default) or Tail (the function's last 4 KB of log is written to the sidecar's log at debug level; never sent to a client)`,
    })),
    endpoint: Type.Optional(Type.String({
      minLength: 1,
      description: `${OURS} with function_name: the Invoke API endpoint (http:// allowed); default AWS_ENDPOINT_URL_LAMBDA, then AWS_ENDPOINT_URL, then https://lambda.<region>.amazonaws.com`,
    })),
    authorization: Type.Optional(
      Fields(
        {
          apikey: Type.Optional(Secret('API key, sent as x-api-key unless the client sent one')),
          iam: Type.Optional(IAM_SCHEMA),
        },
        { description: 'credentials to access the function' },
      ),
    ),
    timeout: Type.Integer({ minimum: MIN_TIMEOUT_MS, default: DEFAULT_TIMEOUT_MS, description: 'proxy request timeout in milliseconds (per socket operation)' }),
    ssl_verify: Type.Boolean({ default: true, description: "verify the endpoint's TLS certificate" }),
    keepalive: Type.Boolean({ default: true, description: 'keep connections alive for reuse' }),
    keepalive_pool: Type.Integer({ minimum: 1, default: DEFAULT_KEEPALIVE_POOL, description: 'connections kept open to the endpoint' }),
    keepalive_timeout: Type.Integer({ minimum: MIN_KEEPALIVE_TIMEOUT_MS, default: DEFAULT_KEEPALIVE_TIMEOUT_MS, description: 'idle time in milliseconds before a pooled connection closes' }),
    max_req_body_size: Type.Integer({
      minimum: 1,
      default: DEFAULT_MAX_REQ_BODY_SIZE,
      description: 'maximum request body size in bytes buffered into memory; larger request bodies are rejected',
    }),
    _meta: Type.Optional(Fields({ disable: Type.Optional(Type.Boolean({ description: 'true: the plugin is off and the route passes through' })) })),
  },
  { description: "APISIX's aws-lambda plugin: the route is answered by an AWS Lambda function" },
);

export const PLUGIN_SCHEMA = {
  ...PLUGIN_FIELDS,
  allOf: [
    { anyOf: [{ required: ['function_uri'] }, { required: ['function_name'] }] },
    { not: { required: ['function_uri', 'function_name'] } },
  ],
} as typeof PLUGIN_FIELDS;

const ROUTE_URI = Type.String({
  minLength: 1,
  maxLength: 4096,
  pattern: pattern('^\\/[^\\s?#]*$', 'must be a path starting with "/" (no query, no spaces)'),
  description: `path to match; a trailing "*" matches any rest. ${OURS} "*" only at the end, no ":param" segments`,
});
// APISIX host: a domain, optionally with a leading "*." wildcard.
const ROUTE_HOST = Type.String({
  minLength: 1,
  maxLength: 253,
  pattern: pattern('^(\\*\\.)?[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*\\.?$|^\\*$', 'must be a host name, optionally starting with "*."'),
});
const ROUTE_ID_SOURCE = '^(?!\\.{1,2}$)[a-zA-Z0-9_.-]{1,64}$';
const ROUTE_ID_REASON = 'must be 1 to 64 characters of a-z, A-Z, 0-9, "-", "_" and "." (not "." or "..")';
/** Route ids: also one path segment of the Admin API, hence neither "." nor "..". */
export const ROUTE_ID_PATTERN = new RegExp(pattern(ROUTE_ID_SOURCE, ROUTE_ID_REASON), 'u');

export const ROUTE_SCHEMA = (() => {
  const fields = Fields({
    // A number is accepted as in APISIX's JSON bodies, and becomes a string.
    id: Unsafe<string>({ anyOf: [{ type: 'string', pattern: ROUTE_ID_SOURCE }, { type: 'integer', minimum: 0 }], description: 'route id' }),
    uri: Type.Optional(ROUTE_URI),
    uris: Type.Optional(Type.Array(ROUTE_URI, { minItems: 1, uniqueItems: true })),
    methods: Type.Optional(Type.Array(Unsafe<HttpMethod>({ type: 'string', enum: HTTP_METHODS }), { uniqueItems: true })),
    host: Type.Optional(ROUTE_HOST),
    hosts: Type.Optional(Type.Array(ROUTE_HOST, { minItems: 1, uniqueItems: true })),
    priority: Type.Integer({ default: 0, description: 'among matching routes the highest wins' }),
    status: Unsafe<0 | 1>({ type: 'integer', enum: [0, 1], default: 1, description: '1 enabled, 0 disabled (kept but never matches)' }),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    desc: Type.Optional(Type.String({ maxLength: 256 })),
    labels: Type.Optional(Unsafe<Record<string, string>>({ type: 'object', additionalProperties: { type: 'string', minLength: 1, maxLength: 256 } })),
    plugins: Fields({ [PLUGIN_NAME]: Type.Optional(PLUGIN_SCHEMA) }),
    upstream: Type.Optional(
      Unsafe<Record<string, unknown>>({ type: 'object', description: `accepted so APISIX routes load unchanged. ${OURS} not proxied to: Envoy's own upstream serves the route` }),
    ),
    // Set by the Admin API (as APISIX does), so routes exported from APISIX load too.
    create_time: Type.Optional(Type.Integer({ minimum: 0, description: 'Unix seconds, set by the Admin API' })),
    update_time: Type.Optional(Type.Integer({ minimum: 0, description: 'Unix seconds, set by the Admin API' })),
  });
  return {
    ...fields,
    description: 'an APISIX route object',
    allOf: [
      { anyOf: [{ required: ['uri'] }, { required: ['uris'] }] },
      { not: { required: ['uri', 'uris'] } },
      { not: { required: ['host', 'hosts'] } },
    ],
  } as typeof fields;
})();

/** The routes file: `routes:` and a list of route objects. */
export const ROUTES_FILE_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'aws-lambda-sidecar routes file',
  description: 'APISIX route objects carrying the aws-lambda plugin (generated from src/config/route-json-schema.ts)',
  type: 'object',
  properties: {
    routes: { anyOf: [{ type: 'array', items: ROUTE_SCHEMA }, { type: 'null' }] },
  },
  additionalProperties: false,
} as const;

type DeepReadonly<T> = T extends readonly (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** A route after validation: defaults applied, `secretkey` read as `secret_key`, id a string. */
export type RouteConfig = DeepReadonly<Static<typeof ROUTE_SCHEMA>>;
export type LambdaPluginConfig = DeepReadonly<Static<typeof PLUGIN_SCHEMA>>;
export type IamAuthorization = DeepReadonly<Static<typeof IAM_SCHEMA>>;

/** schema/routes.schema.json, as `npm run gen:schema` writes it (a test keeps the two equal). */
export function routesFileSchemaText(): string {
  return `${JSON.stringify(ROUTES_FILE_SCHEMA, null, 2)}\n`;
}
