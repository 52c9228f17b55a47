/**
 * Envoy header mutations from a response header list. Both filters need to know, per header,
 * whether an earlier header had the same name: the first value of a name must replace what Envoy's
 * local reply already carries (content-type: text/plain), later ones must be added, so several
 * set-cookie headers all reach the client. How that is said differs per filter (see the callers).
 */
import type { HeaderList } from '../invoke/client-request';
import type { HeaderValueOption } from './grpc-definitions';

export function headerOptions(
  headers: HeaderList,
  toOption: (name: string, value: string, repeat: boolean) => HeaderValueOption,
): HeaderValueOption[] {
  const out: HeaderValueOption[] = new Array(headers.length);
  const seen = new Set<string>();
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i];
    out[i] = toOption(name, value, seen.has(name));
    seen.add(name);
  }
  return out;
}
