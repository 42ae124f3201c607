import type { FastifyInstance } from 'fastify';
import { stringify } from 'yaml';

/** The app's OpenAPI document as plain YAML (no anchors/aliases, which some client generators reject). */
export function openApiYaml(app: FastifyInstance): string {
  return stringify(app.swagger(), { aliasDuplicateObjects: false, lineWidth: 0 });
}
