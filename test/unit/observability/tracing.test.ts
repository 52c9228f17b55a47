import { createTracing, tracingEnabled } from '../../../src/observability/tracing';

describe('tracing is off unless the OTel variables turn it on', () => {
  it.each([
    [{}, false],
    [{ OTEL_SERVICE_NAME: 'x' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: '' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }, true],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' }, true],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_SDK_DISABLED: 'true' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_SDK_DISABLED: 'TRUE' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_TRACES_EXPORTER: 'none' }, false],
  ])('%j → %s', (env, on) => {
    expect(tracingEnabled(env)).toBe(on);
  });

  it('off: no tracer is built (the pipeline then has nothing to call)', () => {
    expect(createTracing({})).toBeUndefined();
  });

  it('off: the OpenTelemetry SDK and exporter are never loaded; on: they are', () => {
    jest.isolateModules(() => {
      const loaded: string[] = [];
      for (const name of ['@opentelemetry/sdk-trace-base', '@opentelemetry/exporter-trace-otlp-http', '@opentelemetry/resources']) {
        jest.doMock(name, () => {
          loaded.push(name);
          return jest.requireActual(name);
        });
      }
      const isolated = jest.requireActual<typeof import('../../../src/observability/tracing')>('../../../src/observability/tracing');
      expect(isolated.createTracing({ OTEL_SERVICE_NAME: 'x' })).toBeUndefined();
      expect(loaded).toEqual([]);
      const tracing = isolated.createTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1' });
      expect(tracing).toBeDefined();
      expect(loaded.sort()).toEqual(['@opentelemetry/exporter-trace-otlp-http', '@opentelemetry/resources', '@opentelemetry/sdk-trace-base']);
      void tracing?.shutdown();
    });
  });
});
