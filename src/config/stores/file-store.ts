/**
 * `file:<path>`: routes from a YAML/JSON file.
 */
import { readRoutesFile } from '../routes-file';
import type { RouteConfig } from '../route-schema';
import type { RouteStore } from './route-store';

export class FileRouteStore implements RouteStore {
  readonly description: string;

  constructor(private readonly path: string) {
    this.description = `file:${path}`;
  }

  async start(_onChange: (routes: readonly RouteConfig[]) => void): Promise<readonly RouteConfig[]> {
    return readRoutesFile(this.path);
  }

  async close(): Promise<void> {}
}
