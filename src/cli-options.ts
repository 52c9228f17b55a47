/**
 * Command line flags and environment variables → options. Flags win over environment variables;
 * an empty environment variable counts as unset.
 *
 * One table, `FLAGS`, drives `node:util` parseArgs (strict: unknown flags, a value-taking flag
 * followed by another flag, and `--help=yes` are refused), the environment lookup and `--help`.
 * Adding a flag is adding one entry; its parsed value appears in `CliOptions` under the entry's key.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ERROR_CODES, sidecarError } from './errors';
import { DEFAULT_MAX_ROUTES_FILE_BYTES } from './config/routes-file';
import { DEFAULT_LOG_BUFFER_BYTES, LOG_LEVELS, LogLevel } from './logger';
import { isLoopback, parseListenAddress } from './config/network-address';
import { DEFAULT_ACCESS_LOG_BUFFER_BYTES } from './observability/access-log';
import { DEFAULT_SIGV4_SIGNER, SIGV4_SIGNER_NAMES, type SigV4SignerName } from './aws/sigv4';
import { DEFAULT_DRAIN_TIMEOUT_MS, DEFAULT_METRICS, DEFAULT_GRPC_LISTEN, DEFAULT_MAX_ROUTES, DEFAULT_HTTP_LISTEN } from './server';
import { DEFAULT_CREDENTIAL_FETCH_TIMEOUT_MS, DEFAULT_REFRESH_BEFORE_EXPIRY_MS, DEFAULT_RETRY_MAX_DELAY_MS } from './aws/credential-source';
import { DEFAULT_ETCD_CALL_TIMEOUT_MS } from './config/stores/store-spec';
import { DEFAULT_STREAM_IDLE_TIMEOUT_MS } from './fronts/ext-proc/ext-proc-service';
import { DEFAULT_MAX_GRPC_CALLS } from './fronts/grpc-call-limit';
import { DEFAULT_GRPC_SERVER, GRPC_SERVER_NAMES, type GrpcServerName } from './fronts/grpc/grpc-listener';
import { DEFAULT_REQUEST_IDLE_TIMEOUT_MS, DEFAULT_TRUSTED_PROXIES } from './fronts/http/http-front';
import { DEFAULT_MAX_BUFFERED_RESPONSE_BYTES, DEFAULT_MAX_INFLIGHT_REQUESTS } from './request-pipeline';
import { DEFAULT_MAX_RESPONSE_BYTES } from './invoke/target';

interface FlagSpec<T> {
  /** The flag without its dashes: `grpc-listen` for `--grpc-listen`. */
  readonly flag: string;
  readonly env?: string;
  /** A boolean flag takes no value on the command line (`--help`, never `--help=yes`). */
  readonly type: 'string' | 'boolean';
  /** The value when neither the flag nor its environment variable is given. */
  readonly default: T;
  readonly help: string;
  /** Turns the given text (flag value or environment variable) into the option; throws ERR_CLI_INVALID. */
  readonly parse: (raw: string, name: string) => T;
}

function cliError(message: string): Error {
  return sidecarError(ERROR_CODES.CLI_INVALID, message);
}

const text = (raw: string): string => raw;

const flagPresent = (): boolean => true;

/** `host:port` / `[v6]:port`, or `off` (undefined: the listener is disabled). */
const listenAddress = (raw: string, name: string): string | undefined => {
  if (raw === 'off') return undefined;
  parseListenAddress(raw, name);
  return raw;
};

const milliseconds = (raw: string, name: string): number => {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value)) throw cliError(`${name}: expected a whole number of milliseconds, got "${raw}"`);
  return value;
};

const positiveWhole = (unit: string) => (raw: string, name: string): number => {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value === 0) throw cliError(`${name}: expected a positive whole number${unit}, got "${raw}"`);
  return value;
};
const positiveBytes = positiveWhole(' of bytes');
const positiveCount = positiveWhole('');

/** The answer budget must hold the largest answer relayed, or that answer could never pass. */
const responseBudgetBytes = (raw: string, name: string): number => {
  const value = positiveBytes(raw, name);
  if (value < DEFAULT_MAX_RESPONSE_BYTES) throw cliError(`${name}: must be at least ${DEFAULT_MAX_RESPONSE_BYTES} (the largest function answer relayed), got "${raw}"`);
  return value;
};

const logLevel = (raw: string, name: string): LogLevel => {
  if (!(LOG_LEVELS as readonly string[]).includes(raw)) throw cliError(`${name}: expected one of ${LOG_LEVELS.join(', ')}, got "${raw}"`);
  return raw as LogLevel;
};

const onOff = (raw: string, name: string): boolean => {
  if (raw !== 'on' && raw !== 'off') throw cliError(`${name}: expected on or off, got "${raw}"`);
  return raw === 'on';
};

const oneOf = <T extends string>(choices: readonly T[]) => (raw: string, name: string): T => {
  if (!(choices as readonly string[]).includes(raw)) throw cliError(`${name}: expected one of ${choices.join(', ')}, got "${raw}"`);
  return raw as T;
};

const commaList = (raw: string): readonly string[] => raw.split(',').map((s) => s.trim()).filter((s) => s !== '');

export const FLAGS = {
  configPath: { flag: 'config', env: 'SIDECAR_CONFIG', type: 'string', default: undefined as string | undefined, parse: text, help: 'routes file (YAML or JSON) with a "routes:" list of APISIX route objects' },
  store: { flag: 'store', env: 'SIDECAR_STORE', type: 'string', default: undefined as string | undefined, parse: text, help: 'route store: file:<path> (default: the --config file, hot-reloaded) or etcd://host:port[,host:port]/prefix' },
  adminListen: { flag: 'admin-listen', env: 'SIDECAR_ADMIN_LISTEN', type: 'string', default: undefined as string | undefined, parse: listenAddress, help: 'APISIX-compatible Admin API listener, host:port (default off)' },
  adminKey: { flag: 'admin-key', env: 'SIDECAR_ADMIN_KEY', type: 'string', default: undefined as string | undefined, parse: text, help: 'X-API-KEY the Admin API requires (mandatory on a non-loopback address)' },
  grpcListen: { flag: 'grpc-listen', env: 'SIDECAR_GRPC_LISTEN', type: 'string', default: DEFAULT_GRPC_LISTEN as string | undefined, parse: listenAddress, help: `ext_proc, ext_authz and grpc.health.v1 listener, host:port or "off" (default ${DEFAULT_GRPC_LISTEN})` },
  httpListen: { flag: 'http-listen', env: 'SIDECAR_HTTP_LISTEN', type: 'string', default: DEFAULT_HTTP_LISTEN as string | undefined, parse: listenAddress, help: `HTTP front (/healthz, routes for nginx), host:port or "off" (default ${DEFAULT_HTTP_LISTEN})` },
  logLevel: { flag: 'log-level', env: 'SIDECAR_LOG_LEVEL', type: 'string', default: 'info' as LogLevel, parse: logLevel, help: `${LOG_LEVELS.join('|')} (default info)` },
  logBufferBytes: { flag: 'log-buffer-bytes', env: 'SIDECAR_LOG_BUFFER_BYTES', type: 'string', default: DEFAULT_LOG_BUFFER_BYTES, parse: positiveBytes, help: `log bytes held while stdout does not keep up; further lines are dropped (default ${DEFAULT_LOG_BUFFER_BYTES})` },
  drainTimeoutMs: { flag: 'drain-timeout-ms', env: 'SIDECAR_DRAIN_TIMEOUT_MS', type: 'string', default: DEFAULT_DRAIN_TIMEOUT_MS, parse: milliseconds, help: `how long SIGTERM waits for in-flight requests (default ${DEFAULT_DRAIN_TIMEOUT_MS})` },
  requestIdleTimeoutMs: { flag: 'request-idle-timeout-ms', env: 'SIDECAR_REQUEST_IDLE_TIMEOUT_MS', type: 'string', default: DEFAULT_REQUEST_IDLE_TIMEOUT_MS, parse: milliseconds, help: `HTTP front: how long a client may pause while sending headers or body before 408 and close; 0 disables (default ${DEFAULT_REQUEST_IDLE_TIMEOUT_MS})` },
  maxRoutes: { flag: 'max-routes', env: 'SIDECAR_MAX_ROUTES', type: 'string', default: DEFAULT_MAX_ROUTES, parse: positiveCount, help: `most routes in force; more are refused at start and on a reload (default ${DEFAULT_MAX_ROUTES})` },
  maxRoutesFileBytes: { flag: 'max-routes-file-bytes', env: 'SIDECAR_MAX_ROUTES_FILE_BYTES', type: 'string', default: DEFAULT_MAX_ROUTES_FILE_BYTES, parse: positiveBytes, help: `largest routes file read (file store); a larger one is refused before parsing (default ${DEFAULT_MAX_ROUTES_FILE_BYTES})` },
  maxInflightRequests: { flag: 'max-inflight-requests', env: 'SIDECAR_MAX_INFLIGHT_REQUESTS', type: 'string', default: DEFAULT_MAX_INFLIGHT_REQUESTS, parse: positiveCount, help: `requests in flight at once, all fronts together; more get 503 + Retry-After (default ${DEFAULT_MAX_INFLIGHT_REQUESTS})` },
  maxBufferedResponseBytes: { flag: 'max-buffered-response-bytes', env: 'SIDECAR_MAX_BUFFERED_RESPONSE_BYTES', type: 'string', default: DEFAULT_MAX_BUFFERED_RESPONSE_BYTES, parse: responseBudgetBytes, help: `function-answer bytes buffered at once, all requests together; an answer past it gets 503 (default ${DEFAULT_MAX_BUFFERED_RESPONSE_BYTES}, at least ${DEFAULT_MAX_RESPONSE_BYTES})` },
  maxGrpcCalls: { flag: 'max-grpc-calls', env: 'SIDECAR_MAX_GRPC_CALLS', type: 'string', default: DEFAULT_MAX_GRPC_CALLS, parse: positiveCount, help: `open ext_proc streams plus ext_authz calls at once; more get 503 + Retry-After (default ${DEFAULT_MAX_GRPC_CALLS})` },
  streamIdleTimeoutMs: { flag: 'stream-idle-timeout-ms', env: 'SIDECAR_STREAM_IDLE_TIMEOUT_MS', type: 'string', default: DEFAULT_STREAM_IDLE_TIMEOUT_MS, parse: positiveCount, help: `how long an ext_proc stream may wait for Envoy's next message (default ${DEFAULT_STREAM_IDLE_TIMEOUT_MS})` },
  etcdTimeoutMs: { flag: 'etcd-timeout-ms', env: 'SIDECAR_ETCD_TIMEOUT_MS', type: 'string', default: DEFAULT_ETCD_CALL_TIMEOUT_MS, parse: positiveCount, help: `bound on each etcd call (Admin API writes, reads at start and on resync), one attempt (default ${DEFAULT_ETCD_CALL_TIMEOUT_MS})` },
  credentialsRefreshBeforeExpiryMs: { flag: 'credentials-refresh-before-expiry-ms', env: 'SIDECAR_CREDENTIALS_REFRESH_BEFORE_EXPIRY_MS', type: 'string', default: DEFAULT_REFRESH_BEFORE_EXPIRY_MS, parse: positiveCount, help: `refresh temporary AWS credentials this long before they expire (default ${DEFAULT_REFRESH_BEFORE_EXPIRY_MS})` },
  credentialsFetchTimeoutMs: { flag: 'credentials-fetch-timeout-ms', env: 'SIDECAR_CREDENTIALS_FETCH_TIMEOUT_MS', type: 'string', default: DEFAULT_CREDENTIAL_FETCH_TIMEOUT_MS, parse: positiveCount, help: `bound on one credential fetch (IMDS, container endpoint, STS) (default ${DEFAULT_CREDENTIAL_FETCH_TIMEOUT_MS})` },
  credentialsRetryMaxMs: { flag: 'credentials-retry-max-ms', env: 'SIDECAR_CREDENTIALS_RETRY_MAX_MS', type: 'string', default: DEFAULT_RETRY_MAX_DELAY_MS, parse: positiveCount, help: `longest pause between retries of a failed credential fetch (default ${DEFAULT_RETRY_MAX_DELAY_MS})` },
  trustedProxies: { flag: 'trusted-proxies', env: 'SIDECAR_TRUSTED_PROXIES', type: 'string', default: DEFAULT_TRUSTED_PROXIES as readonly string[], parse: commaList, help: `comma-separated CIDRs whose X-Forwarded-Host / x-lambda-route the HTTP front believes (default ${DEFAULT_TRUSTED_PROXIES.join(',')})` },
  metrics: { flag: 'metrics', env: 'SIDECAR_METRICS', type: 'string', default: DEFAULT_METRICS as boolean, parse: onOff, help: `Prometheus metrics on the HTTP listener's GET /metrics, on|off (default ${DEFAULT_METRICS ? 'on' : 'off'})` },
  accessLog: { flag: 'access-log', env: 'SIDECAR_ACCESS_LOG', type: 'string', default: undefined as string | undefined, parse: text, help: 'one JSON line per request to this file (appended) or "stdout" (default off)' },
  accessLogBufferBytes: { flag: 'access-log-buffer-bytes', env: 'SIDECAR_ACCESS_LOG_BUFFER_BYTES', type: 'string', default: DEFAULT_ACCESS_LOG_BUFFER_BYTES, parse: positiveBytes, help: `access log bytes held while the file does not keep up; further lines are dropped and counted (default ${DEFAULT_ACCESS_LOG_BUFFER_BYTES})` },
  sigv4Signer: { flag: 'sigv4-signer', env: 'SIDECAR_SIGV4_SIGNER', type: 'string', default: DEFAULT_SIGV4_SIGNER as SigV4SignerName, parse: oneOf(SIGV4_SIGNER_NAMES), help: `SigV4 implementation: lean (ours, the cheaper) or aws4 (the aws4 library); both sign identically (default ${DEFAULT_SIGV4_SIGNER})` },
  grpcServer: { flag: 'grpc-server', env: 'SIDECAR_GRPC_SERVER', type: 'string', default: DEFAULT_GRPC_SERVER as GrpcServerName, parse: oneOf(GRPC_SERVER_NAMES), help: `gRPC listener server: h2 (node:http2 with our framing, the cheaper) or grpc-js (@grpc/grpc-js); both serve the same services (default ${DEFAULT_GRPC_SERVER})` },
  check: { flag: 'check', type: 'boolean', default: false, parse: flagPresent, help: 'validate the routes (--config file or --store), list every problem, exit 0 (valid) or 1; starts nothing' },
  help: { flag: 'help', type: 'boolean', default: false, parse: flagPresent, help: 'print this help' },
  version: { flag: 'version', type: 'boolean', default: false, parse: flagPresent, help: 'print the version' },
} as const satisfies Record<string, FlagSpec<unknown>>;

type Flags = typeof FLAGS;
export type CliOptions = { readonly [K in keyof Flags]: ReturnType<Flags[K]['parse']> | Flags[K]['default'] };

const FLAG_ENTRIES = Object.entries(FLAGS) as Array<[keyof Flags, FlagSpec<unknown>]>;

export function usage(): string {
  const lines = ['Usage: aws-lambda-sidecar --config <routes.yaml> [options]', '', 'Options (environment variable in brackets; flags win):'];
  for (const [, spec] of FLAG_ENTRIES) {
    const env = 'env' in spec && spec.env !== undefined ? ` [${spec.env}]` : '';
    lines.push(`  ${`--${spec.flag}${spec.type === 'string' ? ' <value>' : ''}`.padEnd(28)} ${spec.help}${env}`);
  }
  return lines.join('\n');
}

export { isLoopback } from './config/network-address';

const PARSE_ARGS_OPTIONS: NonNullable<ParseArgsConfig['options']> = Object.fromEntries(FLAG_ENTRIES.map(([, spec]) => [spec.flag, { type: spec.type }]));

function parseFlags(argv: readonly string[]): Record<string, string | boolean | undefined> {
  try {
    return parseArgs({ args: [...argv], options: PARSE_ARGS_OPTIONS, strict: true, allowPositionals: false }).values as Record<string, string | boolean | undefined>;
  } catch (err) {
    // parseArgs's messages name the flag and the fix ("To specify an option argument starting with a dash use --config=-XYZ").
    throw cliError(`${(err as Error).message.replace(/\n/g, ' ')} (see --help)`);
  }
}

export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv): CliOptions {
  const given = parseFlags(argv);
  const values: Record<string, unknown> = {};
  for (const [key, spec] of FLAG_ENTRIES) {
    const name = `--${spec.flag}`;
    const fromFlag = given[spec.flag];
    if (fromFlag === '') throw cliError(`${name} needs a value`);
    const fromEnv = spec.env === undefined || env[spec.env] === '' ? undefined : env[spec.env];
    const raw = fromFlag === true ? 'true' : typeof fromFlag === 'string' ? fromFlag : fromEnv;
    values[key] = raw === undefined ? spec.default : spec.parse(raw, fromFlag === undefined ? `${spec.env} (${name})` : name);
  }
  const opts = values as CliOptions;
  if (opts.configPath === undefined && opts.store === undefined && !opts.help && !opts.version) {
    throw cliError('--config <routes file> is required (or set SIDECAR_CONFIG, or give --store)');
  }
  if (opts.adminListen !== undefined) {
    const { host } = parseListenAddress(opts.adminListen, '--admin-listen');
    if (opts.adminKey === undefined && !isLoopback(host)) {
      throw cliError(`--admin-listen ${opts.adminListen} is not a loopback address: refusing to serve the Admin API there without --admin-key`);
    }
  }
  return opts;
}
