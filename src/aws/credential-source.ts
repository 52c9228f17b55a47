/**
 * Credential sources: objects that hand out the current AWS credentials for signing and refresh
 * themselves ahead of expiry (the shape of grpc-js `call-credentials.ts`: the request path asks,
 * the source decides how the answer is kept fresh).
 *
 * - `static`: keys from the route (today's `accesskey` / `secret_key` / `session_token`); never expire.
 * - `chain`: the AWS SDK's default chain (`fromNodeProviderChain`): environment, shared files
 *   (`AWS_PROFILE`), web identity (IRSA), container credentials (ECS, EKS Pod Identity), EC2 IMDSv2.
 * - `profile`: one named profile of the shared files (`fromIni`).
 * - `assume-role`: STS AssumeRole at the region's STS endpoint (`fromTemporaryCredentials`), on top
 *   of static keys or of the default chain.
 *
 * The SDK does every network call (IMDS, container endpoint, STS); this file only decides *when*:
 *
 * - Fetched once at creation (warm, in the background), cached, and refreshed by a timer before
 *   they expire (`refreshDelayMs`), so a request only reads `current()`.
 * - One fetch at a time (single flight): the timer, and every `ready()` caller, share it.
 * - A failed fetch starts an *outage*: logged once (warn), retried with backoff (debug per
 *   attempt), ended by the next success (logged once, info). Still-valid credentials keep serving
 *   during it; once they expire `current()` is undefined and `ready()` rejects with ERR_CREDENTIALS.
 * - No secret reaches a log line or a message: failure reasons are scrubbed of every secret the
 *   source knows, and the SDK's own log lines go to `trace` through the same scrubber.
 */
import { fromIni, fromNodeProviderChain, fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import type { Logger } from 'pino';
import { ERROR_CODES, SidecarError, sidecarError } from '../errors';
import type { SigV4Credentials } from './sigv4';

export interface AwsCredentials extends SigV4Credentials {
  /** Undefined for credentials that never expire (static keys, a profile's keys, environment keys). */
  readonly expiration?: Date;
}

export interface CredentialSource {
  /** Names the source in log lines and error messages (never a secret). */
  readonly description: string;
  /**
   * The credentials to sign with now, or undefined when there are none that are still valid
   * (first fetch not finished, or expired during an outage). Synchronous, for the request path.
   */
  current(): AwsCredentials | undefined;
  /**
   * `current()` when defined; otherwise waits for the fetch in flight (the first one, usually),
   * at most `timeoutMs`. Rejects with ERR_CREDENTIALS when the fetch fails, the wait times out or
   * an outage is in progress (the background retry, not the caller, ends outages), and with
   * ERR_CLIENT_GONE when `signal` aborts.
   */
  ready(timeoutMs: number, signal?: AbortSignal): Promise<AwsCredentials>;
  /**
   * Stops refreshing (the registry calls it when no route uses the source any more). What it holds
   * stays readable until it expires, for requests still in flight on a reloaded route; `ready()`
   * without valid credentials then rejects. Idempotent.
   */
  close(): void;
}

export interface StaticCredentialSpec {
  readonly kind: 'static';
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface ChainCredentialSpec {
  readonly kind: 'chain';
  /** Region of the STS calls the chain may make (web identity); see resolveAwsRegion. */
  readonly region: string;
}

export interface ProfileCredentialSpec {
  readonly kind: 'profile';
  readonly profile: string;
  /** Region of the STS calls a profile with `role_arn` makes. */
  readonly region: string;
}

export interface AssumeRoleCredentialSpec {
  readonly kind: 'assume-role';
  readonly roleArn: string;
  /** Default DEFAULT_ROLE_SESSION_NAME. */
  readonly roleSessionName?: string;
  readonly externalId?: string;
  /** STS's own default (3600) when undefined; STS accepts 900 up to the role's maximum. */
  readonly durationSeconds?: number;
  /** STS is called at this region's endpoint (sts.<region>.amazonaws.com, or AWS_ENDPOINT_URL_STS). */
  readonly region: string;
  /** The credentials that call STS: the route's static keys, a profile, or the default chain. */
  readonly base: StaticCredentialSpec | ChainCredentialSpec | ProfileCredentialSpec;
}

export type CredentialSpec = StaticCredentialSpec | ChainCredentialSpec | ProfileCredentialSpec | AssumeRoleCredentialSpec;

export const DEFAULT_ROLE_SESSION_NAME = 'aws-lambda-sidecar';

/** Refresh this long before expiry, as the AWS SDKs do (their "treated as expired" window). */
export const DEFAULT_REFRESH_BEFORE_EXPIRY_MS = 5 * 60_000;
/** Never refresh more often than this, even when a source keeps returning nearly expired credentials. */
export const DEFAULT_MIN_REFRESH_INTERVAL_MS = 1_000;
/** First retry delay after a failed fetch; doubles per failed attempt up to the maximum. */
export const DEFAULT_RETRY_INITIAL_DELAY_MS = 1_000;
export const DEFAULT_RETRY_MAX_DELAY_MS = 30_000;
/** A fetch that has not answered by then counts as failed (the SDK's STS client has no timeout of its own). */
export const DEFAULT_CREDENTIAL_FETCH_TIMEOUT_MS = 10_000;
/** Retry delays are spread by ±this fraction so a fleet does not retry in step. */
const RETRY_JITTER_FRACTION = 0.2;
/** setTimeout's largest delay (about 24.8 days); longer delays fire at once. */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;
/** Failure reasons longer than this are cut: they go into log lines and 502 bodies. */
const MAX_REASON_CHARS = 400;
/** Strings shorter than this are not scrubbed (an empty or tiny "secret" would mangle every message). */
const MIN_SCRUBBED_SECRET_CHARS = 8;

export interface CredentialTimings {
  readonly refreshBeforeExpiryMs: number;
  readonly minRefreshIntervalMs: number;
  readonly retryInitialDelayMs: number;
  readonly retryMaxDelayMs: number;
  readonly fetchTimeoutMs: number;
}

export const DEFAULT_CREDENTIAL_TIMINGS: CredentialTimings = Object.freeze({
  refreshBeforeExpiryMs: DEFAULT_REFRESH_BEFORE_EXPIRY_MS,
  minRefreshIntervalMs: DEFAULT_MIN_REFRESH_INTERVAL_MS,
  retryInitialDelayMs: DEFAULT_RETRY_INITIAL_DELAY_MS,
  retryMaxDelayMs: DEFAULT_RETRY_MAX_DELAY_MS,
  fetchTimeoutMs: DEFAULT_CREDENTIAL_FETCH_TIMEOUT_MS,
});

/** Fetches and failed fetches of one source, counted for the metrics (read at scrape time). */
export interface CredentialFetchCounts {
  fetches: number;
  failures: number;
}

export interface CredentialSourceContext {
  readonly logger: Logger;
  /** Counted into, when given (the registry keeps one per source description). */
  readonly counts?: CredentialFetchCounts;
  /** The route ids using the source, named in its log lines (a function: the registry's set changes). */
  readonly routes: readonly string[] | (() => readonly string[]);
  readonly timings?: Partial<CredentialTimings>;
}

/**
 * When to refresh credentials that expire at `expiresAtMs`: `refreshBeforeExpiryMs` (5 min)
 * before expiry, or halfway through the remaining lifetime when that is shorter than twice the
 * margin (a 15-minute STS session refreshes after 10 minutes, a 6-minute one after 3, a 4-second
 * test one after 2), never sooner than `minRefreshIntervalMs`.
 */
export function refreshDelayMs(expiresAtMs: number, nowMs: number, timings: CredentialTimings): number {
  const remainingMs = expiresAtMs - nowMs;
  const leadMs = Math.min(timings.refreshBeforeExpiryMs, remainingMs / 2);
  return Math.min(MAX_TIMER_DELAY_MS, Math.max(timings.minRefreshIntervalMs, Math.floor(remainingMs - leadMs)));
}

/** Builds the source for `spec` and starts warming it (static keys are ready at once). */
export function createCredentialSource(spec: CredentialSpec, context: CredentialSourceContext): CredentialSource {
  if (spec.kind === 'static') return new StaticCredentialSource(spec);
  const secrets = new SecretScrubber(spec);
  const sdkLogger = sdkLoggerFor(context.logger, secrets);
  const fetch = sdkFetcher(spec, sdkLogger);
  const source = new RefreshingCredentialSource(describeSpec(spec), fetch, context, secrets);
  source.start();
  return source;
}

export function describeSpec(spec: CredentialSpec): string {
  switch (spec.kind) {
    case 'static':
      return 'static keys';
    case 'chain':
      return 'AWS default credential chain';
    case 'profile':
      return `profile "${spec.profile}"`;
    case 'assume-role':
      return `role ${spec.roleArn} (session ${spec.roleSessionName ?? DEFAULT_ROLE_SESSION_NAME}, STS in ${spec.region}) assumed with ${describeSpec(spec.base)}`;
  }
}

class StaticCredentialSource implements CredentialSource {
  readonly description = describeSpec({ kind: 'static', accessKeyId: '', secretAccessKey: '' });
  private readonly credentials: AwsCredentials;

  constructor(spec: StaticCredentialSpec) {
    this.credentials = Object.freeze(
      spec.sessionToken === undefined
        ? { accessKeyId: spec.accessKeyId, secretAccessKey: spec.secretAccessKey }
        : { accessKeyId: spec.accessKeyId, secretAccessKey: spec.secretAccessKey, sessionToken: spec.sessionToken },
    );
  }

  current(): AwsCredentials {
    return this.credentials;
  }

  ready(): Promise<AwsCredentials> {
    return Promise.resolve(this.credentials);
  }

  close(): void {}
}

type SdkLogger = Parameters<typeof fromNodeProviderChain>[0] extends infer I ? (I extends { logger?: infer L } ? NonNullable<L> : never) : never;
type CredentialFetcher = () => Promise<AwsCredentials>;

function sdkFetcher(spec: ChainCredentialSpec | ProfileCredentialSpec | AssumeRoleCredentialSpec, logger: SdkLogger): CredentialFetcher {
  switch (spec.kind) {
    case 'chain': {
      const chain = chainProvider(spec, logger);
      // The chain memoizes; our own cache decides when to ask, so every ask is a real fetch.
      return () => chain({ forceRefresh: true });
    }
    case 'profile': {
      const profile = profileProvider(spec, logger);
      return () => profile();
    }
    case 'assume-role': {
      const base = spec.base;
      const assumeRole = fromTemporaryCredentials({
        params: {
          RoleArn: spec.roleArn,
          RoleSessionName: spec.roleSessionName ?? DEFAULT_ROLE_SESSION_NAME,
          ...(spec.externalId === undefined ? {} : { ExternalId: spec.externalId }),
          ...(spec.durationSeconds === undefined ? {} : { DurationSeconds: spec.durationSeconds }),
        },
        masterCredentials:
          base.kind === 'static'
            ? { accessKeyId: base.accessKeyId, secretAccessKey: base.secretAccessKey, sessionToken: base.sessionToken }
            : base.kind === 'profile'
              ? profileProvider(base, logger)
              : chainProvider(base, logger),
        clientConfig: { region: spec.region },
        logger,
      });
      return () => assumeRole();
    }
  }
}

function profileProvider(spec: ProfileCredentialSpec, logger: SdkLogger): ReturnType<typeof fromIni> {
  // ignoreCache: re-read the shared files on every fetch (rotated keys, a file that appears late);
  // the SDK otherwise keeps the first read, a failed one included, for the life of the process.
  return fromIni({ profile: spec.profile, ignoreCache: true, clientConfig: { region: spec.region }, logger });
}

function chainProvider(spec: ChainCredentialSpec, logger: SdkLogger): ReturnType<typeof fromNodeProviderChain> {
  return fromNodeProviderChain({ clientConfig: { region: spec.region }, ignoreCache: true, logger });
}

/** Every secret this source may hold or meet, replaced by `[redacted]` in reasons and SDK log lines. */
class SecretScrubber {
  /** The spec's own secrets (static keys, an assume-role's base keys). */
  private readonly fixed: string[] = [];
  /** The secrets of the last two fetches (bounded: a long-running source refreshes thousands of times). */
  private fetched: string[] = [];

  constructor(spec: CredentialSpec) {
    this.addSpec(spec);
  }

  private addSpec(spec: CredentialSpec): void {
    if (spec.kind === 'static') {
      this.fixed.push(spec.secretAccessKey, spec.sessionToken ?? '');
    } else if (spec.kind === 'assume-role') {
      this.addSpec(spec.base);
    }
  }

  rememberFetched(credentials: AwsCredentials): void {
    this.fetched = [credentials.secretAccessKey, credentials.sessionToken ?? '', ...this.fetched.slice(0, 2)];
  }

  scrub(text: string): string {
    let out = text;
    // The chain reads these from the environment at fetch time; they may change, so read them now.
    const env = [process.env.AWS_SECRET_ACCESS_KEY, process.env.AWS_SESSION_TOKEN, process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN];
    for (const secret of [...this.fixed, ...this.fetched, ...env]) {
      if (secret !== undefined && secret.length >= MIN_SCRUBBED_SECRET_CHARS) out = out.split(secret).join('[redacted]');
    }
    return out;
  }
}

/** The SDK's log calls, at `trace` (debug/info) and `debug` (warn/error): our own lines carry the outage. */
function sdkLoggerFor(log: Logger, secrets: SecretScrubber): SdkLogger {
  const at = (level: 'trace' | 'debug') => (...args: unknown[]): void => {
    if (!log.isLevelEnabled(level)) return;
    log[level]({ sdk: true }, secrets.scrub(redactSecretFields(args.map(describeLogArgument).join(' '))));
  };
  return { trace: at('trace'), debug: at('trace'), info: at('trace'), warn: at('debug'), error: at('debug') };
}

/**
 * Strings and errors as they are; any other value by its keys only. The SDK clients log whole
 * command outputs at `info`, and STS's model does not mark `SessionToken` sensitive, so a fresh
 * token (which the scrubber cannot know yet) would otherwise reach the log.
 */
function describeLogArgument(arg: unknown): string {
  if (typeof arg === 'string') return arg;
  if (arg instanceof Error) return `${arg.name}: ${arg.message}`;
  if (arg !== null && typeof arg === 'object') return `[object with keys ${Object.keys(arg).join(', ')}]`;
  return String(arg);
}

/** A second line of defence for text: the value after any credential field name. */
const SECRET_FIELD_PATTERN = /((?:SecretAccessKey|SessionToken|WebIdentityToken|secretAccessKey|sessionToken|\bToken)["']?\s*[:=]\s*["']?)[^"'\s,}]+/g;

function redactSecretFields(text: string): string {
  return text.replace(SECRET_FIELD_PATTERN, '$1[redacted]');
}

interface Outage {
  readonly sinceMs: number;
  attempts: number;
  reason: string;
}

class RefreshingCredentialSource implements CredentialSource {
  private readonly timings: CredentialTimings;
  /** The last credentials fetched (may be expired: `current()` filters). */
  private credentials: AwsCredentials | undefined;
  /** The fetch in flight, shared by the timer and every `ready()` caller; at most one. */
  private inflight: Promise<AwsCredentials> | undefined;
  /** The next refresh or retry; undefined while a fetch is in flight, for static-like credentials, or once closed. */
  private timer: NodeJS.Timeout | undefined;
  /** Defined from the first failed fetch until the next success; logged once at each end. */
  private outage: Outage | undefined;
  private closed = false;

  constructor(
    readonly description: string,
    private readonly fetchCredentials: CredentialFetcher,
    private readonly context: CredentialSourceContext,
    private readonly secrets: SecretScrubber,
  ) {
    this.timings = { ...DEFAULT_CREDENTIAL_TIMINGS, ...context.timings };
  }

  start(): void {
    void this.refresh().catch(() => undefined);
  }

  current(): AwsCredentials | undefined {
    const c = this.credentials;
    if (c === undefined) return undefined;
    if (c.expiration !== undefined && c.expiration.getTime() <= Date.now()) return undefined;
    return c;
  }

  ready(timeoutMs: number, signal?: AbortSignal): Promise<AwsCredentials> {
    const c = this.current();
    if (c !== undefined) return Promise.resolve(c);
    if (this.closed) return Promise.reject(this.unavailable('the source is closed'));
    if (this.outage !== undefined && this.inflight === undefined) return Promise.reject(this.unavailable(this.outage.reason));
    const pending = this.inflight ?? this.refresh();
    return waitBounded(pending, timeoutMs, signal, () => this.unavailable(`none obtained within ${timeoutMs} ms`));
  }

  close(): void {
    this.closed = true;
    this.clearTimer();
  }

  private routes(): readonly string[] {
    const routes = this.context.routes;
    return typeof routes === 'function' ? routes() : routes;
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(delayMs: number): void {
    this.clearTimer();
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.refresh().catch(() => undefined);
    }, Math.min(MAX_TIMER_DELAY_MS, Math.max(0, delayMs)));
    // A refresh timer alone must not keep the process alive (tests, a draining sidecar).
    this.timer.unref();
  }

  private refresh(): Promise<AwsCredentials> {
    if (this.inflight !== undefined) return this.inflight;
    this.clearTimer();
    if (this.context.counts !== undefined) this.context.counts.fetches++;
    const attempt = withTimeout(this.fetchCredentials(), this.timings.fetchTimeoutMs)
      .then(
        (fetched) => this.onFetched(fetched),
        (err: unknown) => {
          throw this.onFailed(err);
        },
      )
      .finally(() => {
        this.inflight = undefined;
      });
    // Marks the shared promise handled: a background refresh nobody waits for must not be an unhandled rejection.
    attempt.catch(() => undefined);
    this.inflight = attempt;
    return attempt;
  }

  private onFetched(fetched: AwsCredentials): AwsCredentials {
    if (typeof fetched?.accessKeyId !== 'string' || fetched.accessKeyId === '' || typeof fetched.secretAccessKey !== 'string') {
      throw this.onFailed(new Error('the source answered without an access key id and secret'));
    }
    const expiration = fetched.expiration instanceof Date ? fetched.expiration : undefined;
    if (expiration !== undefined && expiration.getTime() <= Date.now()) {
      throw this.onFailed(new Error(`the source answered with credentials that expired at ${expiration.toISOString()}`));
    }
    const credentials: AwsCredentials = Object.freeze({
      accessKeyId: fetched.accessKeyId,
      secretAccessKey: fetched.secretAccessKey,
      ...(fetched.sessionToken ? { sessionToken: fetched.sessionToken } : {}),
      ...(expiration === undefined ? {} : { expiration }),
    });
    this.secrets.rememberFetched(credentials);
    if (this.closed) return credentials;
    this.credentials = credentials;
    const outage = this.outage;
    if (outage !== undefined) {
      this.outage = undefined;
      this.context.logger.info(
        { source: this.description, routes: this.routes(), outageMs: Date.now() - outage.sinceMs, failedAttempts: outage.attempts },
        'AWS credentials available again',
      );
    }
    if (expiration !== undefined) this.schedule(refreshDelayMs(expiration.getTime(), Date.now(), this.timings));
    return credentials;
  }

  /** Records a failed fetch (outage start logged once, retry scheduled); returns the error for callers. */
  private onFailed(err: unknown): SidecarError {
    if (this.context.counts !== undefined) this.context.counts.failures++;
    const reason = this.reasonOf(err);
    const log = this.context.logger;
    let outage = this.outage;
    if (outage === undefined) {
      outage = { sinceMs: Date.now(), attempts: 0, reason };
      this.outage = outage;
      const valid = this.current();
      if (!this.closed) {
        if (valid !== undefined) {
          log.warn(
            { source: this.description, routes: this.routes(), reason, validUntil: valid.expiration?.toISOString() },
            'AWS credentials refresh failed; the current credentials keep serving until they expire, retrying in the background',
          );
        } else {
          log.warn(
            { source: this.description, routes: this.routes(), reason },
            `no AWS credentials; signed requests on these routes answer 502 ${ERROR_CODES.CREDENTIALS} until the source works, retrying in the background`,
          );
        }
      }
    }
    outage.attempts += 1;
    outage.reason = reason;
    if (!this.closed) {
      const delayMs = this.retryDelayMs(outage.attempts);
      log.debug({ source: this.description, reason, attempt: outage.attempts, retryInMs: delayMs }, 'AWS credentials fetch failed');
      this.schedule(delayMs);
    }
    return this.unavailable(reason, err);
  }

  private retryDelayMs(attempts: number): number {
    const base = Math.min(this.timings.retryMaxDelayMs, this.timings.retryInitialDelayMs * 2 ** Math.min(attempts - 1, 30));
    const jitter = 1 + RETRY_JITTER_FRACTION * (2 * Math.random() - 1);
    return Math.round(base * jitter);
  }

  private reasonOf(err: unknown): string {
    const e = err as { name?: unknown; message?: unknown } | null;
    const message = typeof e?.message === 'string' ? e.message : String(err);
    const name = typeof e?.name === 'string' && e.name !== 'Error' ? `${e.name}: ` : '';
    const text = this.secrets.scrub(redactSecretFields(`${name}${message}`)).replace(/\s+/g, ' ').trim();
    return text.length > MAX_REASON_CHARS ? `${text.slice(0, MAX_REASON_CHARS)}…` : text;
  }

  private unavailable(reason: string, cause?: unknown): SidecarError {
    // The cause is kept for a debugger, never logged by us: its message was scrubbed into `reason`.
    return sidecarError(ERROR_CODES.CREDENTIALS, `AWS credentials from ${this.description} are unavailable: ${reason}`, cause);
  }
}

function withTimeout<T>(pending: Promise<T>, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
    pending.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** `pending`, or a rejection after `timeoutMs` (`onTimeout()`) or when `signal` aborts (ERR_CLIENT_GONE). */
function waitBounded<T>(pending: Promise<T>, timeoutMs: number, signal: AbortSignal | undefined, onTimeout: () => Error): Promise<T> {
  if (signal?.aborted) return Promise.reject(clientGone());
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      settle();
      reject(clientGone());
    };
    const timer = setTimeout(() => {
      settle();
      reject(onTimeout());
    }, timeoutMs);
    const settle = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    pending.then(
      (value) => {
        settle();
        resolve(value);
      },
      (err: unknown) => {
        settle();
        reject(err);
      },
    );
  });
}

function clientGone(): SidecarError {
  return sidecarError(ERROR_CODES.CLIENT_GONE, 'the request was abandoned while waiting for AWS credentials');
}
