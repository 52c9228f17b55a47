import { validateRoutes } from '../../../src/config/route-schema';
import { LiveRoutes } from '../../../src/routing/live-routes';
import { RouteTable } from '../../../src/routing/route-table';

function table(id: string): RouteTable<string> {
  return new RouteTable(validateRoutes([{ id, uri: `/${id}`, plugins: {} }]), (c) => c.id);
}

function setup(): { live: LiveRoutes<string>; retired: string[]; t1: RouteTable<string> } {
  const retired: string[] = [];
  const t1 = table('t1');
  const live = new LiveRoutes(t1, (t) => retired.push([...t.entries()][0].id));
  return { live, retired, t1 };
}

describe('LiveRoutes', () => {
  it('serves the current table and counts versions', () => {
    const { live, t1 } = setup();
    expect(live.current).toBe(t1);
    expect(live.version).toBe(1);
    const t2 = table('t2');
    live.replace(t2);
    expect(live.current).toBe(t2);
    expect(live.version).toBe(2);
  });

  it('a lease holds the table it was taken on, even after a replace', () => {
    const { live, t1 } = setup();
    const lease = live.lease();
    live.replace(table('t2'));
    expect(lease.table).toBe(t1);
    expect(live.lease().table).not.toBe(t1);
  });

  it('replace with no lease retires the old table at once', () => {
    const { live, retired } = setup();
    live.replace(table('t2'));
    expect(retired).toEqual(['t1']);
    live.replace(table('t3'));
    expect(retired).toEqual(['t1', 't2']);
  });

  it('a released lease leaves nothing pending: replace retires at once', () => {
    const { live, retired } = setup();
    live.lease().release();
    live.lease().release();
    live.replace(table('t2'));
    expect(retired).toEqual(['t1']);
  });

  it('retires the old table only after its last lease is released', () => {
    const { live, retired } = setup();
    const a = live.lease();
    const b = live.lease();
    live.replace(table('t2'));
    expect(retired).toEqual([]);
    a.release();
    expect(retired).toEqual([]);
    b.release();
    expect(retired).toEqual(['t1']);
  });

  it('release is idempotent: a double release neither retires early nor twice', () => {
    const { live, retired } = setup();
    const a = live.lease();
    const b = live.lease();
    live.replace(table('t2'));
    a.release();
    a.release();
    a.release();
    expect(retired).toEqual([]);
    b.release();
    b.release();
    expect(retired).toEqual(['t1']);
  });

  it('releasing leases on the current table never retires it', () => {
    const { live, retired } = setup();
    const a = live.lease();
    a.release();
    a.release();
    expect(retired).toEqual([]);
    expect(live.version).toBe(1);
  });

  it('leases on several generations retire each table independently', () => {
    const { live, retired } = setup();
    const onT1 = live.lease();
    live.replace(table('t2'));
    const onT2 = live.lease();
    live.replace(table('t3'));
    expect(retired).toEqual([]);
    onT2.release();
    expect(retired).toEqual(['t2']);
    onT1.release();
    expect(retired).toEqual(['t2', 't1']);
    // a lease taken after the replaces is on t3, which stays live
    live.lease().release();
    expect(retired).toEqual(['t2', 't1']);
  });

  it('a lease released before a replace does not count against the new table', () => {
    const { live, retired } = setup();
    live.replace(table('t2'));
    const onT2 = live.lease();
    live.replace(table('t3'));
    expect(retired).toEqual(['t1']);
    onT2.release();
    expect(retired).toEqual(['t1', 't2']);
  });
});
