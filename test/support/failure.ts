/**
 * The code, status and message of the error `fn` throws; fails the test when nothing is thrown.
 * Tests assert on `.code`: `instanceof` breaks across jest sandboxes.
 */
export function failure(fn: () => unknown): { code: unknown; status: unknown; message: string } {
  try {
    fn();
  } catch (err) {
    const e = err as { code?: unknown; status?: unknown; message?: unknown };
    return { code: e.code, status: e.status, message: String(e.message) };
  }
  throw new Error('expected an error, but none was thrown');
}
