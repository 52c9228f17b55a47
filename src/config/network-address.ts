/**
 * Addresses the sidecar is configured with, parsed in one place: listen addresses
 * (`host:port` / `[v6]:port`), etcd endpoints, loopback hosts and trusted-proxy CIDRs.
 * Every parser throws ERR_CLI_INVALID naming the flag and what it expected.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { ERROR_CODES, sidecarError } from '../errors';

const HOST_PORT = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/;

/** Splits `host:port` / `[v6]:port`, or undefined when `value` is not one. */
export function splitHostPort(value: string): { host: string; port: number } | undefined {
  const m = HOST_PORT.exec(value);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || port > 65535) return undefined;
  return { host: m[1] ?? m[2], port };
}

/** Splits `host:port` / `[v6]:port`; throws ERR_CLI_INVALID naming the flag. */
export function parseListenAddress(value: string, flag: string): { host: string; port: number } {
  const address = splitHostPort(value);
  if (address === undefined) {
    throw sidecarError(ERROR_CODES.CLI_INVALID, `${flag}: expected host:port (e.g. 127.0.0.1:50051 or [::1]:50051), got "${value}"`);
  }
  return address;
}

/** `host:port`, with brackets around an IPv6 host. */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** 127.0.0.0/8, ::1 and localhost: only this machine can reach them. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Parses CIDR strings (a bare address is a /32 or /128) into a BlockList; throws on a bad entry. */
export function cidrList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [addr, bits] = cidr.split('/');
    const family = isIPv4(addr) ? 'ipv4' : isIPv6(addr) ? 'ipv6' : undefined;
    const max = family === 'ipv4' ? 32 : 128;
    const prefix = bits === undefined ? max : Number(bits);
    if (family === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > max) {
      throw sidecarError(ERROR_CODES.CLI_INVALID, `trusted proxy "${cidr}" is not an IP address or CIDR`);
    }
    list.addSubnet(addr, prefix, family);
  }
  return list;
}

/** Whether a peer address (IPv4-mapped IPv6 included) is in the list. */
export function inCidrList(list: BlockList, address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4mapped = address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
  return list.check(v4mapped, isIPv4(v4mapped) ? 'ipv4' : 'ipv6');
}
