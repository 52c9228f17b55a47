#!/usr/bin/env -S node --max-semi-space-size=4 --max-old-space-size=256
/**
 * `aws-lambda-sidecar --config routes.yaml [--grpc-listen host:port] [--http-listen host:port]`
 * `aws-lambda-sidecar --check --config routes.yaml` (or `--store ...`): validate and exit.
 * Exit codes: 0 after a clean drain, 1 when the routes are invalid or a listener fails, 2 on usage errors.
 *
 * The shebang's V8 flags bound the heap: with Node's defaults RSS grows to about 230 MB at 1,000
 * concurrent requests, with these to about 130 MB, for ~13% less throughput (bench/ANALYSIS.md).
 * `node dist/cli.js` reads no shebang: the tools that start it that way take the flags from it
 * (cliNodeFlags).
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { CliOptions, parseCli, usage } from './cli-options';
import { runCheck } from './config/check';
import { createStore } from './config/stores/store-spec';
import { ERROR_CODES, SidecarError } from './errors';
import { createLogger, LOG_FLUSH_TIMEOUT_MS, StdoutDestination } from './logger';
import { AccessLog } from './observability/access-log';
import { useSigV4Signer } from './aws/sigv4';
import { createTracing, type Tracing } from './observability/tracing';
import { RunningSidecar, startSidecar } from './server';

/** How long the exit waits for buffered spans to be exported. */
const TRACES_FLUSH_TIMEOUT_MS = 2_000;

function version(): string {
  const pkg = JSON.parse(readFileSync(path.resolve(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(): Promise<void> {
  let opts: CliOptions;
  try {
    opts = parseCli(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`aws-lambda-sidecar: ${(err as Error).message}\n\n${usage()}\n`);
    process.exit(2);
  }
  if (opts.help) {
    process.stdout.write(`${usage()}\n`);
    return;
  }
  if (opts.version) {
    process.stdout.write(`${version()}\n`);
    return;
  }
  if (opts.check) {
    process.exitCode = await runCheck(opts.store, opts.configPath, process.stdout, process.stderr);
    return;
  }
  const stdout = new StdoutDestination(1, opts.logBufferBytes);
  const logger = createLogger(opts.logLevel, stdout);
  /** Exits once the log lines so far are out, or after LOG_FLUSH_TIMEOUT_MS: never blocks on stdout. */
  let accessLog: AccessLog | undefined;
  let tracing: Tracing | undefined;
  const exit = (code: number): void => {
    // The span export is bounded by the exporter's own timeout (OTEL_EXPORTER_OTLP_TIMEOUT) and by ours.
    const spans = tracing === undefined ? undefined : Promise.race([tracing.shutdown().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, TRACES_FLUSH_TIMEOUT_MS))]);
    void Promise.all([spans, stdout.drain(LOG_FLUSH_TIMEOUT_MS), accessLog?.drain(LOG_FLUSH_TIMEOUT_MS)]).then(() => process.exit(code));
  };
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection (bug): kept running'));
  process.on('uncaughtException', (err) => logger.error({ err }, 'uncaught exception (bug): kept running'));

  let sidecar: RunningSidecar;
  try {
    accessLog = opts.accessLog === undefined ? undefined : new AccessLog(opts.accessLog, opts.accessLogBufferBytes, stdout);
    tracing = createTracing(process.env, version());
    useSigV4Signer(opts.sigv4Signer);
    sidecar = await startSidecar({
      metrics: opts.metrics,
      accessLog,
      tracer: tracing?.observer,
      store: createStore(opts.store, opts.configPath, logger, { maxRoutesFileBytes: opts.maxRoutesFileBytes, etcdCallTimeoutMs: opts.etcdTimeoutMs }),
      adminListen: opts.adminListen,
      adminKey: opts.adminKey,
      grpcListen: opts.grpcListen,
      grpcServer: opts.grpcServer,
      httpListen: opts.httpListen,
      trustedProxies: opts.trustedProxies,
      drainTimeoutMs: opts.drainTimeoutMs,
      requestIdleTimeoutMs: opts.requestIdleTimeoutMs,
      maxRoutes: opts.maxRoutes,
      maxInflightRequests: opts.maxInflightRequests,
      maxBufferedResponseBytes: opts.maxBufferedResponseBytes,
      maxGrpcCalls: opts.maxGrpcCalls,
      streamIdleTimeoutMs: opts.streamIdleTimeoutMs,
      credentialTimings: {
        refreshBeforeExpiryMs: opts.credentialsRefreshBeforeExpiryMs,
        fetchTimeoutMs: opts.credentialsFetchTimeoutMs,
        retryMaxDelayMs: opts.credentialsRetryMaxMs,
      },
      logger,
    });
  } catch (err) {
    const e = err as SidecarError;
    if (e.code === ERROR_CODES.CLI_INVALID) {
      process.stderr.write(`aws-lambda-sidecar: ${e.message}\n`);
      process.exit(2);
    }
    const config = e.code === ERROR_CODES.CONFIG_INVALID || e.code === ERROR_CODES.CONFIG_UNREADABLE;
    logger.fatal({ code: e.code ?? 'ERR_STARTUP' }, config ? `refusing to start: ${e.message}` : `cannot start: ${e.message}`);
    // An unreadable file says so itself ("cannot read routes file ..."): it is not "invalid routes".
    const what = e.code === ERROR_CODES.CONFIG_INVALID ? 'invalid routes: ' : '';
    process.stderr.write(`aws-lambda-sidecar: ${what}${e.message}${e.code === undefined ? '' : ` (${e.code})`}\n`);
    exit(1);
    return;
  }
  const running = sidecar;
  let signals = 0;
  const stop = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      logger.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(1);
    }
    logger.info({ signal }, 'shutting down');
    running.close().then(
      () => exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

void main();
