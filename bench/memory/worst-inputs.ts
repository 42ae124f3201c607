/** Inputs shared by the memory bench and the hostile-input tests: a servable model, a zip of costly images. */
import { initEngine } from '../../src/ml/engine.ts';
import { buildChestXRayNet } from '../../src/ml/model.ts';
import { modelToArtifacts } from '../../src/ml/serialize.ts';
import { createModelRegistry } from '../../src/storage/model-registry.ts';
import { datasetZip } from '../../test/helpers/api-archives.ts';
import { blankPng, flatJpeg, pngHeaderOnly } from '../../test/helpers/image-files.ts';

/** Publishes version 1 of `chestxraynet` (untrained weights) into dataDir, so /v1/predict decodes and answers. */
export async function publishUntrainedModel(dataDir: string, inputSize: number): Promise<void> {
  await initEngine();
  const model = buildChestXRayNet({ inputSize });
  const artifacts = await modelToArtifacts(model);
  model.dispose();
  await createModelRegistry({ dataDir }).publish('chestxraynet', artifacts, {
    classNames: ['NORMAL', 'PNEUMONIA'],
    threshold: 0.5,
    modelOptions: { inputSize },
  });
}

/**
 * A valid dataset (6 X-rays per class) plus, in its class folders, the costliest images the
 * budget admits (decoded) and images over it (skipped as IMAGE_TOO_COSTLY, never decoded): real
 * ones and `headerOnly` tiny files whose headers claim huge interlaced images.
 */
export async function worstDatasetZip(headerOnly = 40): Promise<Buffer> {
  const costly = [
    { path: 'chest/NORMAL/interlaced-16bit-rgba.png', data: await blankPng(10000, 10000, { bitDepth: 16, colourType: 6, interlaced: true }) },
    { path: 'chest/PNEUMONIA/progressive-444.jpeg', data: await flatJpeg(10000, 10000, { progressive: true }) },
    { path: 'chest/NORMAL/interlaced-grey.png', data: await blankPng(10000, 10000, { interlaced: true }) },
    { path: 'chest/PNEUMONIA/progressive-grey.jpeg', data: await flatJpeg(10000, 10000, { progressive: true, grey: true }) },
  ];
  const tiny = Array.from({ length: headerOnly }, (_, i) => ({
    path: `chest/${i % 2 ? 'PNEUMONIA' : 'NORMAL'}/claims-huge-${i}.png`,
    data: pngHeaderOnly(10000, 10000, { bitDepth: 16, colourType: 6, interlaced: true, text: String(i) }),
  }));
  return datasetZip({ perClass: 6, extra: [...costly, ...tiny] });
}
