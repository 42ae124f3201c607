/**
 * The one logger interface of every layer: the subset of pino (and Fastify's pino) that the code
 * calls. Modules that take a logger ask for this, or a Pick of it.
 */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** A logger that drops everything (a module's default when its caller passes none). */
export const silentLogger: Logger = Object.freeze({ debug() {}, info() {}, warn() {}, error() {} });
