import { addXrayTraceHeader, parseTraceParent } from '../../../src/invoke/trace-header';
import type { HeaderList } from '../../../src/invoke/client-request';

const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('X-Amzn-Trace-Id from traceparent', () => {
  it('splits the trace id as X-Ray does and keeps the sampled flag', () => {
    const headers: HeaderList = [['traceparent', TP], ['tracestate', 'k=v']];
    addXrayTraceHeader(headers);
    expect(headers).toEqual([['traceparent', TP], ['tracestate', 'k=v'], ['x-amzn-trace-id', 'Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1']]);
    const unsampled: HeaderList = [['traceparent', TP.replace(/-01$/, '-00')]];
    addXrayTraceHeader(unsampled);
    expect(unsampled[1][1]).toMatch(/;Sampled=0$/);
  });

  it('leaves a request alone that has its own X-Amzn-Trace-Id, no traceparent, or an invalid one', () => {
    for (const headers of [
      [['x-amzn-trace-id', 'Root=1-00000001-000000000000000000000001'], ['traceparent', TP]],
      [['accept', '*/*']],
      [['traceparent', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01']],
      [['traceparent', '00-00000000000000000000000000000000-00f067aa0ba902b7-01']],
      [['traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01']],
      [['traceparent', '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01']],
      [['traceparent', `${TP}-extra`]],
    ] as HeaderList[]) {
      const before = JSON.stringify(headers);
      addXrayTraceHeader(headers);
      expect(JSON.stringify(headers)).toBe(before);
    }
    expect(parseTraceParent(`01${TP.slice(2)}-future`)).toEqual({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', sampled: true });
  });
});
