// The h2 server's reading of a call's grpc-timeout header (its deadline).
import { parseGrpcTimeoutMs } from '../../../src/fronts/grpc/grpc-call';

it.each([
  ['200m', 200],
  ['5S', 5000],
  ['2M', 120_000],
  ['1H', 3_600_000],
  ['1500u', 1.5],
  ['7n', 0.000007],
  ['596H', 596 * 3_600_000], // 24.8 days: the longest a timer holds
])('%s → %s ms', (header, ms) => {
  expect(parseGrpcTimeoutMs(header)).toBe(ms);
});

it('absent, malformed or too many digits: no deadline', () => {
  for (const header of [undefined, '', '5', 'S', '5s', '-5S', '1.5S', '123456789S', ' 5S', ['5S', '6S']]) {
    expect(parseGrpcTimeoutMs(header)).toBeUndefined();
  }
});

it('further away than a Node timer can hold: no deadline, not one that fires at once', () => {
  // 597 hours and 99999999 hours overflow setTimeout's 2^31-1 ms, which would fire after 1 ms.
  expect(parseGrpcTimeoutMs('597H')).toBeUndefined();
  expect(parseGrpcTimeoutMs('99999999H')).toBeUndefined();
  expect(parseGrpcTimeoutMs('2147483647m')).toBeUndefined(); // 10 digits: malformed anyway
  expect(parseGrpcTimeoutMs('99999999M')).toBeUndefined();
});
