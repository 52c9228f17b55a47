import { summarize, summaryTable } from '../../../bench/profile/summary';
import { profileOf } from './cpu-profile-fixture';

describe('bench/profile/summary', () => {
  const profile = profileOf([
    { frames: [['(garbage collector)', '']], time: 30 },
    { frames: [['(idle)', '']], time: 50 },
    // a socket write asked for by undici: Node's stream frames and the native leaf are passed over
    { frames: [['invoke', 'file:///x/dist/invoke/invoke.js'], ['dispatch', 'file:///x/node_modules/undici/lib/client.js'], ['writeGeneric', 'node:internal/stream_base_commons'], ['writeLatin1String', '']], time: 40 },
    // a hash inside the signer belongs to the signer
    { frames: [['invoke', 'file:///x/dist/invoke/invoke.js'], ['explain', 'file:///x/dist/aws/sigv4-lean.js'], ['hash', 'node:internal/crypto/hash']], time: 20 },
    // only generic frames: the generic bucket
    { frames: [['processTicksAndRejections', 'node:internal/process/task_queues']], time: 10 },
    // loading our modules at start: not per request, left out like idle
    { frames: [['', 'node:internal/main/run_main_module'], ['wrapModuleLoad', 'node:internal/modules/cjs/loader'], ['', 'file:///x/dist/server.js']], time: 70 },
  ]);

  it('buckets each sample by the nearest specific component and leaves idle time and start-up out', () => {
    expect(summarize(profile)).toEqual([
      { name: 'undici (upstream HTTP/1.1, socket writes included)', share: 0.4 },
      { name: 'garbage collector', share: 0.3 },
      { name: 'SigV4 signing', share: 0.2 },
      { name: 'Node streams, events, timers, microtasks', share: 0.1 },
    ]);
  });

  it('turns shares into µs per request when the CPU per request is given', () => {
    expect(summaryTable(summarize(profile), 200).split('\n')).toEqual([
      '| component | share of busy CPU | µs per request |',
      '| --- | --- | --- |',
      '| undici (upstream HTTP/1.1, socket writes included) | 40.0% | 80 |',
      '| garbage collector | 30.0% | 60 |',
      '| SigV4 signing | 20.0% | 40 |',
      '| Node streams, events, timers, microtasks | 10.0% | 20 |',
    ]);
  });
});
