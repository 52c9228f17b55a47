import type { CpuProfile } from '../../../bench/profile/summary';

/** A profile whose stacks are given leaf-last: each stack is sampled `time` µs. */
export function profileOf(stacks: ReadonlyArray<{ frames: ReadonlyArray<[name: string, url: string]>; time: number }>): CpuProfile {
  const nodes: Array<{ id: number; callFrame: { functionName: string; url: string }; children: number[] }> = [{ id: 1, callFrame: { functionName: '(root)', url: '' }, children: [] }];
  const samples: number[] = [];
  const timeDeltas: number[] = [];
  for (const { frames, time } of stacks) {
    let parent = nodes[0];
    for (const [functionName, url] of frames) {
      const node = { id: nodes.length + 1, callFrame: { functionName, url }, children: [] };
      nodes.push(node);
      parent.children.push(node.id);
      parent = node;
    }
    samples.push(parent.id);
    timeDeltas.push(time);
  }
  return { nodes, samples, timeDeltas };
}
