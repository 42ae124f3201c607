import type { Logger } from 'pino';
import { buildApp } from '../../src/app.ts';
import { composeApi } from '../../src/compose.ts';
import { loadConfig } from '../../src/config.ts';
import { openApiYaml } from '../../src/http/docs/openapi-yaml.ts';
import type { EngineInfo } from '../../src/ml/engine.ts';

/** Engine-independent description, so the document is the same on every machine. */
const SPEC_ENGINE: EngineInfo = { name: 'tensorflow', tfjsVersion: 'n/a', description: 'OpenAPI generation' };

/** The OpenAPI document the app serves at /openapi.yaml, built with default configuration. */
export async function generateOpenApiYaml(dataDir: string, log: Logger): Promise<string> {
  const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
  const api = composeApi(config, SPEC_ENGINE, log);
  const app = await buildApp({ ...api.deps, logger: false });
  try {
    return openApiYaml(app);
  } finally {
    await app.close();
    await api.close();
  }
}
