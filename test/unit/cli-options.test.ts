import * as fs from 'node:fs';
import * as path from 'node:path';
import { FLAGS, parseCli, usage } from '../../src/cli-options';
import { DEFAULT_GRPC_SERVER } from '../../src/fronts/grpc/grpc-listener';
import { failure } from '../support/failure';

const CONFIG = ['--config', 'routes.yaml'];

describe('parseCli', () => {
  it('takes flags, then environment variables, then defaults', () => {
    const opts = parseCli(['--config', 'a.yaml', '--grpc-listen', '127.0.0.1:1'], { SIDECAR_GRPC_LISTEN: '127.0.0.1:2', SIDECAR_HTTP_LISTEN: '127.0.0.1:3', SIDECAR_LOG_LEVEL: '' });
    expect(opts).toMatchObject({ configPath: 'a.yaml', grpcListen: '127.0.0.1:1', httpListen: '127.0.0.1:3', logLevel: 'info', drainTimeoutMs: 10_000, help: false });
    expect(opts.trustedProxies).toEqual(['127.0.0.0/8', '::1/128']);
    expect(parseCli([], { SIDECAR_CONFIG: 'env.yaml', SIDECAR_DRAIN_TIMEOUT_MS: '250' })).toMatchObject({ configPath: 'env.yaml', drainTimeoutMs: 250 });
  });

  it('accepts --flag=value and "off" for a listener', () => {
    expect(parseCli(['--config=a.yaml', '--http-listen=off', '--trusted-proxies', '10.0.0.0/8, ::1'], {})).toMatchObject({
      configPath: 'a.yaml', httpListen: undefined, trustedProxies: ['10.0.0.0/8', '::1'],
    });
  });

  it.each([
    ['a flag taken as the value of the one before', ['--config', '--grpc-listen', '127.0.0.1:1'], /--config.*ambiguous/],
    ['a value for a boolean flag', ['--help=yes'], /--help.*does not take an argument/],
    ['an unknown flag', [...CONFIG, '--nope'], /Unknown option '--nope'/],
    ['a positional argument', [...CONFIG, 'extra'], /Unexpected argument 'extra'/],
    ['a missing value', ['--config'], /--config/],
    ['an empty value', ['--config='], /--config needs a value/],
    ['no routes source', [], /--config <routes file> is required/],
    ['a bad log level', [...CONFIG, '--log-level', 'loud'], /--log-level: expected one of/],
    ['an unknown SigV4 signer', [...CONFIG, '--sigv4-signer', 'fast'], /--sigv4-signer: expected one of lean, aws4, got "fast"/],
    ['an unknown gRPC server', [...CONFIG, '--grpc-server', 'fast'], /--grpc-server: expected one of h2, grpc-js, got "fast"/],
    ['a bad drain timeout', [...CONFIG, '--drain-timeout-ms', '1.5'], /--drain-timeout-ms: expected a whole number/],
    ['a bad listen address', [...CONFIG, '--grpc-listen', 'nowhere'], /--grpc-listen: expected host:port/],
    ['a public Admin API without a key', [...CONFIG, '--admin-listen', '0.0.0.0:9180'], /without --admin-key/],
  ])('refuses %s with ERR_CLI_INVALID', (_label, argv, message) => {
    const f = failure(() => parseCli(argv, {}));
    expect(f.code).toBe('ERR_CLI_INVALID');
    expect(f.message).toMatch(message);
  });

  it('names the environment variable when the bad value came from it', () => {
    expect(failure(() => parseCli(CONFIG, { SIDECAR_LOG_LEVEL: 'loud' })).message).toMatch(/^SIDECAR_LOG_LEVEL \(--log-level\): expected one of/);
  });

  it('--sigv4-signer: lean by default, aws4 when asked', () => {
    expect(parseCli(CONFIG, {}).sigv4Signer).toBe('lean');
    expect(parseCli([...CONFIG, '--sigv4-signer', 'aws4'], {}).sigv4Signer).toBe('aws4');
  });

  it('--grpc-server: DEFAULT_GRPC_SERVER by default, either server when asked, also from SIDECAR_GRPC_SERVER', () => {
    expect(parseCli(CONFIG, {}).grpcServer).toBe(DEFAULT_GRPC_SERVER);
    expect(parseCli([...CONFIG, '--grpc-server', 'grpc-js'], {}).grpcServer).toBe('grpc-js');
    expect(parseCli([...CONFIG, '--grpc-server', 'h2'], {}).grpcServer).toBe('h2');
    expect(parseCli(CONFIG, { SIDECAR_GRPC_SERVER: 'grpc-js' }).grpcServer).toBe('grpc-js');
  });

  it('--help and --version need no routes', () => {
    expect(parseCli(['--help'], {}).help).toBe(true);
    expect(parseCli(['--version'], {}).version).toBe(true);
  });
});

describe('the flag table', () => {
  const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');

  it.each(Object.values(FLAGS).map((spec) => [spec.flag, spec]))('--%s is in --help and, with its environment variable, in the README', (flag, spec) => {
    expect(usage()).toContain(`--${flag}`);
    if ('env' in spec) {
      expect(usage()).toContain(`[${spec.env}]`);
      expect(readme).toMatch(new RegExp(`\\| \`--${flag}[^|]*\` \\| \`${spec.env}\` \\|`));
    }
  });
});
