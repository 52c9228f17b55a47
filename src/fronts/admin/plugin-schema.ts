/**
 * The Admin API's plugin endpoints, as APISIX 3 serves them: `GET /apisix/admin/plugins/list` (the
 * names of the plugins this node runs) and `GET /apisix/admin/plugins/{name}` (the plugin's JSON
 * Schema, the one routes are validated with).
 */
import { PLUGIN_NAME, PLUGIN_SCHEMA } from '../../config/route-json-schema';

export const ADMIN_PLUGINS_PATH = '/apisix/admin/plugins';

/** As JSON text would give it back (no TypeBox symbols). */
const PLUGIN_SCHEMA_JSON: unknown = JSON.parse(JSON.stringify(PLUGIN_SCHEMA));

export interface AdminAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** The answer for `path` (without trailing slash) when it is under /apisix/admin/plugins; undefined otherwise. */
export function pluginsAnswer(method: string, path: string): AdminAnswer | undefined {
  if (path !== ADMIN_PLUGINS_PATH && !path.startsWith(`${ADMIN_PLUGINS_PATH}/`)) return undefined;
  if (method !== 'GET') return { status: 405, body: { error_msg: `method ${method} not allowed on ${path}` } };
  const name = path.slice(ADMIN_PLUGINS_PATH.length + 1);
  if (name === 'list') return { status: 200, body: [PLUGIN_NAME] };
  if (name === PLUGIN_NAME) return { status: 200, body: PLUGIN_SCHEMA_JSON };
  // APISIX's own answer for a plugin it does not have.
  return { status: 404, body: { error_msg: 'plugin not found' } };
}
