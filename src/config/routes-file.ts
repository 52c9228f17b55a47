/**
 * Reads a routes file (YAML or JSON: YAML is a superset) into validated, frozen route objects.
 * File shape: `routes:` followed by a list of APISIX route objects.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError, ERROR_CODES } from '../errors';
import { RouteConfig, RouteProblem, RouteValidationError, validateRoutes } from './route-schema';

/**
 * Largest routes document parsed. The YAML parser needs about 60-75 bytes of heap per byte of text
 * while it works (measured with yaml 2.8: a 4 MB file of 20,000 routes ran the 256 MB heap the CLI
 * runs with out of memory at start; 3 MB loaded, and reloaded next to a live table): refusing
 * larger files before parsing keeps a hot reload from killing a live sidecar.
 */
export const DEFAULT_MAX_ROUTES_FILE_BYTES = 2 * 1024 * 1024;

export function parseRoutesDocument(text: string, source: string, maxBytes = DEFAULT_MAX_ROUTES_FILE_BYTES): readonly RouteConfig[] {
  const bytes = Buffer.byteLength(text);
  if (bytes > maxBytes) {
    throw new ConfigError(`${source}: ${bytes} bytes is above the routes file limit of ${maxBytes} bytes (--max-routes-file-bytes)`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { uniqueKeys: true, maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError(`${source}: not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`, ERROR_CODES.CONFIG_UNREADABLE);
  }
  if (doc === null || doc === undefined) return Object.freeze([]);
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError(`${source}: must be a mapping with a "routes" list`);
  }
  // Reported together with the routes' problems: a file is fixed in one go.
  const problems: RouteProblem[] = Object.keys(doc)
    .filter((k) => k !== 'routes')
    .map((k) => ({ route: source, field: '', reason: `unknown top-level field "${k}" (the file holds only "routes")` }));
  const list = (doc as { routes?: unknown }).routes;
  let routes: readonly RouteConfig[] = Object.freeze([]);
  try {
    if (list !== undefined && list !== null) routes = validateRoutes(list, `${source}: routes`);
  } catch (err) {
    const found = (err as Partial<RouteValidationError>).problems;
    if (found === undefined) throw err;
    problems.push(...found);
  }
  if (problems.length > 0) throw new RouteValidationError(problems);
  return routes;
}

export function readRoutesFile(path: string): readonly RouteConfig[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read routes file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, ERROR_CODES.CONFIG_UNREADABLE);
  }
  return parseRoutesDocument(text, path);
}
