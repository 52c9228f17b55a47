/**
 * nginx instances the bench owns, each in its own temp prefix: the "function" every setup ends at
 * (answers like a small Lambda behind API Gateway: `return 200` with a JSON body, no I/O), and, when
 * nginx/aws-lambda.conf exists, the nginx front of the `nginx-http` setup.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { canConnect, waitReady, type ManagedProcess } from '../test/e2e/support/processes';
import { answers200 } from './http-request';
import { spawnBench } from './processes';

const NGINX_READY_TIMEOUT_MS = 10_000;
const WANTED_OPEN_FILES = 65_536;

/** The open-files limit nginx workers may raise themselves to (above the hard limit they may not). */
function openFilesHardLimit(): number {
  try {
    const m = /^Max open files\s+\S+\s+(\S+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    const hard = m === null || m[1] === 'unlimited' ? WANTED_OPEN_FILES : Number(m[1]);
    return Math.min(WANTED_OPEN_FILES, hard);
  } catch {
    return 4096;
  }
}

/** ~100 B, what a tiny function returns. */
export const SMALL_RESPONSE_BODY = '{"statusCode":200,"message":"hello from the bench function","requestId":"00000000-0000-0000-bench"}';
export const LARGE_RESPONSE_BYTES = 16 * 1024;
// nginx refuses a single config token longer than its 4 KiB parse buffer, so the 16 KiB answer is
// one 2 KiB variable repeated 8 times in `return`.
const LARGE_CHUNK_BYTES = 2 * 1024;

export const FUNCTION_PATHS = { small: '/default/small', large: '/default/large', debug: '/default/debug' } as const;

export interface NginxProcess extends ManagedProcess {
  readonly port: number;
  readonly prefix: string;
  readonly errorLog: string;
}

/** Directives every bench nginx gets: its own pid, logs and temp paths under `prefix`. */
function commonHttpDirectives(prefix: string): string {
  const p = (name: string): string => path.join(prefix, name);
  return [
    'access_log off;',
    `client_body_temp_path ${p('client_body_temp')};`,
    `proxy_temp_path ${p('proxy_temp')};`,
    `fastcgi_temp_path ${p('fastcgi_temp')};`,
    `uwsgi_temp_path ${p('uwsgi_temp')};`,
    `scgi_temp_path ${p('scgi_temp')};`,
    // Envoy, the sidecar and wrk keep connections open: never close them on nginx's count.
    'keepalive_requests 10000000;',
    'keepalive_timeout 120s;',
  ].join('\n  ');
}

function mainDirectives(prefix: string): string {
  return [
    'worker_processes 1;',
    `worker_rlimit_nofile ${openFilesHardLimit()};`,
    `pid ${path.join(prefix, 'nginx.pid')};`,
    `error_log ${path.join(prefix, 'logs', 'error.log')} warn;`,
    'events { worker_connections 16384; }',
  ].join('\n');
}

export function functionNginxConf(prefix: string, port: number): string {
  const chunk = 'x'.repeat(LARGE_CHUNK_BYTES);
  const repeats = LARGE_RESPONSE_BYTES / LARGE_CHUNK_BYTES;
  return `${mainDirectives(prefix)}
http {
  ${commonHttpDirectives(prefix)}
  default_type application/json;
  server {
    listen 127.0.0.1:${port};
    location = ${FUNCTION_PATHS.small} { return 200 '${SMALL_RESPONSE_BODY}'; }
    location = ${FUNCTION_PATHS.large} { set $chunk "${chunk}"; return 200 "${'$chunk'.repeat(repeats)}"; }
    # What reached the function: proves the signature is on (nginx does not check it).
    location = ${FUNCTION_PATHS.debug} {
      return 200 "authorization: $http_authorization\\nx-amz-date: $http_x_amz_date\\nx-amz-content-sha256: $http_x_amz_content_sha256\\nx-api-key: $http_x_api_key\\nhost: $http_host\\nuri: $request_uri\\n";
    }
  }
}
`;
}

/**
 * nginx front for the `nginx-http` setup, from nginx/aws-lambda.conf. The bench rewrites it the way
 * the e2e tests rewrite envoy.yaml: the sidecar's default HTTP address `127.0.0.1:8080` becomes the
 * bench sidecar's, every `listen` becomes the bench port. The file may be a whole nginx.conf (it has an
 * `events` block: its daemon/pid/worker_processes/user lines are replaced by the bench's), an http-level
 * snippet (it has a `server` block), or a server-level snippet (locations only).
 */
export function frontNginxConf(prefix: string, port: number, source: string, sidecarHttp: string): string {
  let text = source
    .split('127.0.0.1:8080').join(sidecarHttp)
    .split('localhost:8080').join(sidecarHttp)
    .replace(/^(\s*)listen\s+[^;]+;/gm, `$1listen 127.0.0.1:${port};`);
  if (/^\s*events\s*\{/m.test(text)) {
    text = text.replace(/^\s*(daemon|pid|worker_processes|user|error_log|worker_rlimit_nofile)\b[^;]*;\s*$/gm, '');
    text = text.replace(/^\s*events\s*\{[^}]*\}/m, '');
    text = text.replace(/^(\s*)http\s*\{/m, `$1http {\n  ${commonHttpDirectives(prefix)}`);
    return `${mainDirectives(prefix)}\n${text}`;
  }
  const body = /^\s*server\s*\{/m.test(text) ? text : `server {\n    listen 127.0.0.1:${port};\n${text}\n  }`;
  return `${mainDirectives(prefix)}\nhttp {\n  ${commonHttpDirectives(prefix)}\n  ${body}\n}\n`;
}

/** Writes `conf` into a fresh prefix under `dir`, starts nginx in the foreground, waits for the port (and `readyPath`'s 200). */
export async function startNginx(
  nginxBin: string,
  name: string,
  dir: string,
  port: number,
  conf: (prefix: string) => string,
  readyPath: string | undefined,
): Promise<NginxProcess> {
  const prefix = path.join(dir, name);
  fs.mkdirSync(path.join(prefix, 'logs'), { recursive: true });
  const confFile = path.join(prefix, 'nginx.conf');
  fs.writeFileSync(confFile, conf(prefix));
  const errorLog = path.join(prefix, 'logs', 'error.log');
  // -e: the error log nginx uses before it has read the config (else its compiled-in /var/log path).
  const proc = spawnBench(name, nginxBin, ['-p', prefix, '-e', errorLog, '-c', confFile, '-g', 'daemon off;']);
  await waitReady(proc, async () => (await canConnect(port)) && (readyPath === undefined || (await answers200(port, readyPath))), {
    timeoutMs: NGINX_READY_TIMEOUT_MS,
    details: () => `\n--- ${errorLog} ---\n${fs.existsSync(errorLog) ? fs.readFileSync(errorLog, 'utf8') : ''}`,
  });
  return { ...proc, port, prefix, errorLog };
}
