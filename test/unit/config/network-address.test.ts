// The one parser of configured addresses: listen addresses, etcd endpoints, loopback, CIDRs.
import { cidrList, formatAddress, inCidrList, isLoopback, parseListenAddress, splitHostPort } from '../../../src/config/network-address';

it.each([
  ['127.0.0.1:50051', { host: '127.0.0.1', port: 50051 }],
  ['[::1]:0', { host: '::1', port: 0 }],
  ['etcd-0.etcd:2379', { host: 'etcd-0.etcd', port: 2379 }],
])('splits %s', (value, expected) => {
  expect(splitHostPort(value)).toEqual(expected);
  expect(formatAddress(expected.host, expected.port)).toBe(value);
});

it.each(['127.0.0.1', '::1:50051', '127.0.0.1:65536', 'host :1', '[::1:80', ''])('refuses %j, naming the flag', (value) => {
  expect(splitHostPort(value)).toBeUndefined();
  expect(() => parseListenAddress(value, '--grpc-listen')).toThrow(expect.objectContaining({ code: 'ERR_CLI_INVALID', message: expect.stringContaining('--grpc-listen') }));
});

it('knows loopback hosts', () => {
  expect(['localhost', '::1', '127.0.0.1', '127.9.8.7'].map(isLoopback)).toEqual([true, true, true, true]);
  expect(['0.0.0.0', '10.0.0.1', '::', 'example.com'].map(isLoopback)).toEqual([false, false, false, false]);
});

it('matches peers against CIDRs, IPv4-mapped IPv6 included, and refuses a bad entry', () => {
  const list = cidrList(['127.0.0.0/8', '::1/128', '192.0.2.7']);
  expect(['127.0.0.1', '::ffff:127.0.0.2', '::1', '192.0.2.7'].map((a) => inCidrList(list, a))).toEqual([true, true, true, true]);
  expect(['192.0.2.8', '::2', undefined].map((a) => inCidrList(list, a))).toEqual([false, false, false]);
  expect(() => cidrList(['10.0.0.0/33'])).toThrow(expect.objectContaining({ code: 'ERR_CLI_INVALID' }));
});
