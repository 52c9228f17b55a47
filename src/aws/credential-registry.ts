/**
 * One credential source per identity, shared by every route that asks for it (same kind, profile,
 * role, session name, external id, duration, region, static keys), so fifty routes on the default
 * chain make one IMDS call per refresh, not fifty.
 *
 * Reference counted by route: a reload acquires the new table's leases *before* releasing the old
 * table's, so a source still used survives the reload (no refetch, no gap) and one no route uses
 * any more is closed.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { type CredentialFetchCounts, type CredentialSource, type CredentialSpec, type CredentialTimings, createCredentialSource, DEFAULT_ROLE_SESSION_NAME, describeSpec } from './credential-source';

export interface CredentialLease {
  readonly source: CredentialSource;
  /** Gives the route's use back; the source closes when no lease on it is left. Idempotent. */
  release(): void;
}

export interface CredentialRegistryOptions {
  readonly logger: Logger;
  readonly timings?: Partial<CredentialTimings>;
}

interface Entry {
  readonly source: CredentialSource;
  /** Route id → number of live leases it holds (a route appears in both tables during a reload). */
  readonly routes: Map<string, number>;
}

/**
 * The identity `spec` names, as a string: equal keys share a source. Static secrets enter only as a
 * digest, so a key may be logged; a rotated secret under the same key id is a different identity.
 */
export function credentialSpecKey(spec: CredentialSpec): string {
  switch (spec.kind) {
    case 'static':
      return JSON.stringify(['static', spec.accessKeyId, secretDigest(spec.secretAccessKey, spec.sessionToken)]);
    case 'chain':
      return JSON.stringify(['chain', spec.region]);
    case 'profile':
      return JSON.stringify(['profile', spec.profile, spec.region]);
    case 'assume-role':
      return JSON.stringify([
        'assume-role',
        spec.roleArn,
        spec.roleSessionName ?? DEFAULT_ROLE_SESSION_NAME,
        spec.externalId ?? null,
        spec.durationSeconds ?? null,
        spec.region,
        credentialSpecKey(spec.base),
      ]);
  }
}

function secretDigest(secretAccessKey: string, sessionToken: string | undefined): string {
  return createHash('sha256').update(secretAccessKey).update('\0').update(sessionToken ?? '').digest('base64url').slice(0, 16);
}

export class CredentialRegistry {
  private readonly entries = new Map<string, Entry>();
  /** Per source description, kept when a source closes (counters only grow). */
  private readonly counts = new Map<string, CredentialFetchCounts>();

  constructor(private readonly options: CredentialRegistryOptions) {}

  /** The shared source for `spec`, created (and warming) on first use; `routeId` is named in its log lines. */
  acquire(spec: CredentialSpec, routeId: string): CredentialLease {
    const key = credentialSpecKey(spec);
    let entry = this.entries.get(key);
    if (entry === undefined) {
      const routes = new Map<string, number>();
      // Static keys are never fetched: no counters for them.
      const counts = spec.kind === 'static' ? undefined : this.countsFor(describeSpec(spec));
      const source = createCredentialSource(spec, {
        logger: this.options.logger,
        counts,
        routes: () => [...routes.keys()].sort(),
        timings: this.options.timings,
      });
      entry = { source, routes };
      this.entries.set(key, entry);
    }
    const held = entry;
    held.routes.set(routeId, (held.routes.get(routeId) ?? 0) + 1);
    let released = false;
    return {
      source: held.source,
      release: () => {
        if (released) return;
        released = true;
        const count = (held.routes.get(routeId) ?? 1) - 1;
        if (count > 0) held.routes.set(routeId, count);
        else held.routes.delete(routeId);
        if (held.routes.size === 0 && this.entries.get(key) === held) {
          this.entries.delete(key);
          held.source.close();
        }
      },
    };
  }

  private countsFor(description: string): CredentialFetchCounts {
    let counts = this.counts.get(description);
    if (counts === undefined) {
      counts = { fetches: 0, failures: 0 };
      this.counts.set(description, counts);
    }
    return counts;
  }

  /** Fetches and failures per source description, since start (the metrics read them at scrape time). */
  fetchCounts(): ReadonlyMap<string, Readonly<CredentialFetchCounts>> {
    return this.counts;
  }

  /** Number of live sources (tests, and a debug log after a reload). */
  get size(): number {
    return this.entries.size;
  }

  /** Closes every source (shutdown). */
  close(): void {
    for (const entry of this.entries.values()) entry.source.close();
    this.entries.clear();
  }
}
