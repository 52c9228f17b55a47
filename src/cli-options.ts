/**
 * Command line flags and environment variables → options. Flags win over environment variables.
 */
import { ERROR_CODES, sidecarError } from './errors';
import { LOG_LEVELS, LogLevel } from './logger';
import { DEFAULT_DRAIN_TIMEOUT_MS, DEFAULT_GRPC_LISTEN, DEFAULT_HTTP_LISTEN, parseListenAddress } from './server';
import { DEFAULT_TRUSTED_PROXIES } from './fronts/http/http-front';

export interface CliOptions {
  readonly configPath: string | undefined;
  readonly store: string | undefined;
  readonly adminListen: string | undefined;
  readonly adminKey: string | undefined;
  readonly grpcListen: string | undefined;
  readonly httpListen: string | undefined;
  readonly logLevel: LogLevel;
  readonly drainTimeoutMs: number;
  readonly trustedProxies: readonly string[];
  readonly help: boolean;
  readonly version: boolean;
  /** Validate the routes (--config or --store), list every problem, exit; listen on nothing. */
  readonly check: boolean;
}

interface FlagSpec {
  readonly env?: string;
  readonly takesValue: boolean;
  readonly help: string;
}

export const FLAGS: Readonly<Record<string, FlagSpec>> = {
  '--config': { env: 'SIDECAR_CONFIG', takesValue: true, help: 'routes file (YAML or JSON) with a "routes:" list of APISIX route objects' },
  '--store': { env: 'SIDECAR_STORE', takesValue: true, help: 'route store: file:<path> (default: the --config file, hot-reloaded) or etcd://host:port[,host:port]/prefix' },
  '--admin-listen': { env: 'SIDECAR_ADMIN_LISTEN', takesValue: true, help: 'APISIX-compatible Admin API listener, host:port (default off)' },
  '--admin-key': { env: 'SIDECAR_ADMIN_KEY', takesValue: true, help: 'X-API-KEY the Admin API requires (mandatory on a non-loopback address)' },
  '--grpc-listen': { env: 'SIDECAR_GRPC_LISTEN', takesValue: true, help: `ext_proc, ext_authz and grpc.health.v1 listener, host:port or "off" (default ${DEFAULT_GRPC_LISTEN})` },
  '--http-listen': { env: 'SIDECAR_HTTP_LISTEN', takesValue: true, help: `HTTP front (/healthz, routes for nginx), host:port or "off" (default ${DEFAULT_HTTP_LISTEN})` },
  '--log-level': { env: 'SIDECAR_LOG_LEVEL', takesValue: true, help: `${LOG_LEVELS.join('|')} (default info)` },
  '--drain-timeout-ms': { env: 'SIDECAR_DRAIN_TIMEOUT_MS', takesValue: true, help: `how long SIGTERM waits for in-flight requests (default ${DEFAULT_DRAIN_TIMEOUT_MS})` },
  '--trusted-proxies': { env: 'SIDECAR_TRUSTED_PROXIES', takesValue: true, help: `comma-separated CIDRs whose X-Forwarded-Host / x-lambda-route the HTTP front believes (default ${DEFAULT_TRUSTED_PROXIES.join(',')})` },
  '--check': { takesValue: false, help: 'validate the routes (--config file or --store), list every problem, exit 0 (valid) or 1; starts nothing' },
  '--help': { takesValue: false, help: 'print this help' },
  '--version': { takesValue: false, help: 'print the version' },
};

export function usage(): string {
  const lines = ['Usage: aws-lambda-sidecar --config <routes.yaml> [options]', '', 'Options (environment variable in brackets; flags win):'];
  for (const [flag, spec] of Object.entries(FLAGS)) {
    lines.push(`  ${(flag + (spec.takesValue ? ' <value>' : '')).padEnd(28)} ${spec.help}${spec.env ? ` [${spec.env}]` : ''}`);
  }
  return lines.join('\n');
}

/** 127.0.0.0/8, ::1 and localhost: only this machine can reach them. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function listen(value: string | undefined, fallback: string, flag: string): string | undefined {
  const v = value ?? fallback;
  if (v === 'off') return undefined;
  parseListenAddress(v, flag);
  return v;
}

export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv): CliOptions {
  const given = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq !== -1 ? arg.slice(0, eq) : arg;
    const spec = FLAGS[name];
    if (spec === undefined) throw sidecarError(ERROR_CODES.CLI_INVALID, `unknown argument "${arg}" (see --help)`);
    if (!spec.takesValue) {
      given.set(name, 'true');
      continue;
    }
    const value = eq !== -1 && arg.startsWith('--') ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || value === '') throw sidecarError(ERROR_CODES.CLI_INVALID, `${name} needs a value`);
    given.set(name, value);
  }
  const get = (flag: string): string | undefined => {
    const envName = FLAGS[flag].env;
    const fromEnv = envName === undefined ? undefined : env[envName];
    return given.get(flag) ?? (fromEnv === '' ? undefined : fromEnv);
  };
  const logLevel = get('--log-level') ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw sidecarError(ERROR_CODES.CLI_INVALID, `--log-level: expected one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  }
  const drain = get('--drain-timeout-ms');
  const drainTimeoutMs = drain === undefined ? DEFAULT_DRAIN_TIMEOUT_MS : Number(drain);
  if (!Number.isInteger(drainTimeoutMs) || drainTimeoutMs < 0) {
    throw sidecarError(ERROR_CODES.CLI_INVALID, `--drain-timeout-ms: expected a whole number of milliseconds, got "${drain}"`);
  }
  const help = given.has('--help');
  const version = given.has('--version');
  const configPath = get('--config');
  const store = get('--store');
  if (configPath === undefined && store === undefined && !help && !version) {
    throw sidecarError(ERROR_CODES.CLI_INVALID, '--config <routes file> is required (or set SIDECAR_CONFIG, or give --store)');
  }
  const adminListen = get('--admin-listen');
  const adminKey = get('--admin-key');
  if (adminListen !== undefined && adminListen !== 'off') {
    const { host } = parseListenAddress(adminListen, '--admin-listen');
    if (adminKey === undefined && !isLoopback(host)) {
      throw sidecarError(ERROR_CODES.CLI_INVALID, `--admin-listen ${adminListen} is not a loopback address: refusing to serve the Admin API there without --admin-key`);
    }
  }
  const proxies = get('--trusted-proxies');
  return {
    configPath,
    store,
    adminListen: adminListen === 'off' ? undefined : adminListen,
    adminKey,
    grpcListen: listen(get('--grpc-listen'), DEFAULT_GRPC_LISTEN, '--grpc-listen'),
    httpListen: listen(get('--http-listen'), DEFAULT_HTTP_LISTEN, '--http-listen'),
    logLevel: logLevel as LogLevel,
    drainTimeoutMs,
    trustedProxies: proxies === undefined ? DEFAULT_TRUSTED_PROXIES : proxies.split(',').map((s) => s.trim()).filter((s) => s !== ''),
    help,
    version,
    check: given.has('--check'),
  };
}
