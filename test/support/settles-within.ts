/**
 * The promise's outcome, or 'hung' when it does not settle within `ms`: for tests of things that
 * used to wait forever, so they fail with a clear value instead of a jest timeout.
 */
export async function settlesWithin<T>(p: Promise<T>, ms: number): Promise<T | 'hung'> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((resolve) => {
    timer = setTimeout(() => resolve('hung'), ms);
  });
  try {
    return await Promise.race([p, hung]);
  } finally {
    clearTimeout(timer);
  }
}
