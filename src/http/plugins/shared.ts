import type { FastifyPluginAsync } from 'fastify';

/**
 * Marks a plugin as not encapsulated, so its hooks, decorators and handlers apply to the instance
 * that registers it (what the fastify-plugin package does; this is Fastify's documented
 * `skip-override` property, without the extra dependency).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function sharedPlugin<T extends FastifyPluginAsync<any>>(name: string, plugin: T): T {
  Object.defineProperty(plugin, Symbol.for('skip-override'), { value: true });
  Object.defineProperty(plugin, Symbol.for('fastify.display-name'), { value: name });
  return plugin;
}
