/*
 * One consistent story for the examples of openapi.yaml, so a reader can follow ids from one
 * answer to the next: the dataset ds_q3v7kx2mzt4hw6ra (5,856 chest X-rays in NORMAL/ and
 * PNEUMONIA/ folders) is uploaded, job 3f6c2a9e-... trains chestxraynet version 3 on it (5 epochs,
 * 256x256), version 3 is promoted to `production` (it was version 2), and clients predict with
 * it. Job b7d04e21-... is a later 10-epoch run, still training. Every example is validated against
 * its schema by test/integration/openapi.test.ts.
 */

export const EXAMPLE_MODEL = 'chestxraynet';
export const EXAMPLE_DATASET_ID = 'ds_q3v7kx2mzt4hw6ra';
export const EXAMPLE_JOB_ID = 'job_kq24y3muvgpebann';
export const EXAMPLE_RUNNING_JOB_ID = 'job_tw7i2edhowjfgyzv';
/** The version the example job published and that `production` points at. */
export const EXAMPLE_VERSION = 3;
export const EXAMPLE_THRESHOLD = 0.6184;

export const EXAMPLE_TIMES = {
  datasetCreated: '2025-06-02T08:41:17.512Z',
  jobCreated: '2025-06-02T08:44:03.118Z',
  jobStarted: '2025-06-02T08:44:05.402Z',
  jobFinished: '2025-06-02T08:54:31.960Z',
  versionCreated: '2025-06-02T08:54:31.871Z',
  aliasMoved: '2025-06-02T09:02:47.230Z',
  runningCreated: '2025-06-03T14:20:11.007Z',
  runningStarted: '2025-06-03T14:20:12.845Z',
  runningUpdated: '2025-06-03T14:27:40.316Z',
} as const;

/** A real 16x16 grey PNG (base64): small enough to paste, decodes like any X-ray (NORMAL in the story). */
export const EXAMPLE_PNG_BASE64 =
  'iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAAAAAA6mKC9AAAACXBIWXMAAAPoAAAD6AG1e1JrAAAApUlEQVQY02WPsQpGUACF72shRElSQqTEoAgDJZKUwnIXLKQUWWxMMho92L//dz11zvk+gHGKFWR119VZYCkcBnBec+ISThMsY0fjcUAIhpc2w7oOTeoZAgFI0QwLOB/HDIvQFElASXZU9dt1bX0V2RIFaNlJ2vF4nmNsE0emAaO6OVzO9z0XmLsqA1jdL7v9/r5770pfZ9EAqSCjyC0ChqAjcv/6P/7UcsmMHjr/AAAAAElFTkSuQmCC';

/** The same with a soft bright patch in the right upper field (the kind of image labelled PNEUMONIA in the story). */
export const EXAMPLE_PNG_PATCH_BASE64 =
  'iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAAAAAA6mKC9AAAACXBIWXMAAAPoAAAD6AG1e1JrAAAA5klEQVQY02Mwd/QJS8wua2gsy0kM83E0Z7Bw9o9KLazp6KgtSov2d7ZgsHQNjMsqa+qf0FqVlxjiZslg5R6SmFfTOX3mhPaa3GgvawZrz/DU4sb++Uvmz55Unx5gy2DrHZVZ0TZt+fr1G1dNKQl3YLDzjc2t6Zmzfseu/Tvm10Q7Mdj7JxQ0Tly0be+ePZtnVyEEtuzcuHp+V0GYI0zLmnWLpndVpATYQw2dumTp9K6anBgfW5i1c+f2N5WkRXhawxw2bVpnTX5SiLsV3On9TWVZcYGulgjP1RSmRoE8B/N+Q1k22PsAC7RuZiaRBmgAAAAASUVORK5CYII=';

/** A real 16x16 RGB PNG (base64) of a heat map blended over the grey image above. */
export const EXAMPLE_HEATMAP_BASE64 =
  'iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAAACXBIWXMAAAPoAAAD6AG1e1JrAAAC1klEQVQoz2OwtLR0dXUNDAyMiYnJyMgoLSluaqjr7+mc0N3e1lBVXZKXn5mcFBsZGuTv7uZiZWnJYGVl5e7uHhISkpiYmJ+XW1NV0d3ePGtS97xJ7VNbK7qrsuvzE/OTI+LC/H09XW2tLRmsra09PT3Dw8PTUlNLiwtbG2un9bSsmNG5fmr9ys6cRfXxU0vCmzKDcqJ9wnxcHG0tGWxtbb29vaOiorIyM6orSvva6hdPat4xq/7w1JwjnaEHGtw3V7jMyXOtT3RLDHTycLBksLOz8/Pzi4uNzc/NaaqtnN7dsGFa/YlZRdcnhtxrNb1fp3G5SntHsemUNLv8MHt/ZwsGe3v7gICApMTE4sL8jqaa+ROads2suTor7WmP7cd6yW9VPG+qRM6XqS/LNq+Ksg11s2BwdHQMCgpKTUmpKCvpbWtYNrXt4Ly6O3OS33Sb/qjh+1/B8LWS+0a54tpc04YYm0gPSwYnJ6fQ0NCM9HRg+Ezsbls1u/fokvZ7i/NfT3L+3Cj9vZr3bbXopUqtlXlWdbEOER5WyBoqgWG/Ys7Eg8sn3FjV9GhuPNBVT5p1b9Qb7Ku0npXrUhrjGuxuA3VSSkpKeVlpV3vL/OkTti6ddnrtpMtLay5MTTzZGbi7wWdJuV97hl9GuIePiy3U08BYKyosaGlqmD6pb9XCmXvXzju0chLQ9+t7chY0JPUUxZSmhMYEe7k62kKDNTY2Njc3t662pr+3e8GcGRtXLtq8fO6Kmd2zu6p7avKr8pLT4yNC/L0d7W0REZeZmVlRUdHR3jZ92pRlixcsXzRv9tR+YLjVVRTnZaXGRUf4+njZ2doikkZqampxcXFjY2N/X+/cObPnzpk1oa+nubEemF7SU1MiwsO8PD2BilESX15eXlVVVXt7+xQQmAy0rbqqMj8vDxitQAVAZUDFDGjJu6SkpKGhoQcMgAwgFygIlAIqACqztLQEAOY2UM0fqOvKAAAAAElFTkSuQmCC';

/** The heat map alone (RGBA, transparent where cold) of EXAMPLE_HEATMAP_BASE64. */
export const EXAMPLE_HEAT_LAYER_BASE64 =
  'iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAYAAAAf8/9hAAAACXBIWXMAAAPoAAAD6AG1e1JrAAAA7ElEQVQ4y8VToQoCURCc5Adot5m0XzRoPsFmshoMCn6AmARBk1gNB4JNDHaDnD8gaNNs8QvGnQXTeSDcgeGxzOy+2dm9dwDGSD/bGvBooMAQRbY9Cjv/qUm9fKmjyg767GHJISKOPAqLVz5dwJJNdv3Si5MKb7OA8VxR2HnlXeSbbXWwohKf0wEXqx3DdcwgUhQW7yLuJCFgM8qmdVLxneUNT9gzwkFRWLw7UV1CQIuyWWVXHf1yC0cWcfZoWLyPo50kBLRts6eZZds722XLXF3EsHjlfYz8HWTeQfavkPkd5PISc/kXfj3/FngDtxxPJsXE2rgAAAAASUVORK5CYII=';

export const EXAMPLE_PARAMS = {
  epochs: 5,
  batchSize: 16,
  learningRate: 0.001,
  dropoutRate: 0.6,
  seed: 42,
  validationSplit: 0.15,
  testSplit: 0.15,
  augmentation: { rotation: 10, zoom: 0.1, shift: 0.05, horizontalFlip: false },
  classWeighting: 'balanced' as const,
  earlyStoppingPatience: 3,
  inputSize: 256,
  filterMultiplier: 1,
  batchNorm: false,
};

export const EXAMPLE_HISTORY = [
  { epoch: 1, loss: 0.5213, accuracy: 0.7631, valLoss: 0.4127, valAccuracy: 0.8313, seconds: 113.42, imagesPerSecond: 37.3 },
  { epoch: 2, loss: 0.3598, accuracy: 0.8589, valLoss: 0.3106, valAccuracy: 0.8849, seconds: 110.87, imagesPerSecond: 38.15 },
  { epoch: 3, loss: 0.2904, accuracy: 0.8917, valLoss: 0.2688, valAccuracy: 0.9009, seconds: 111.05, imagesPerSecond: 38.09 },
  { epoch: 4, loss: 0.2551, accuracy: 0.9066, valLoss: 0.2497, valAccuracy: 0.9116, seconds: 110.63, imagesPerSecond: 38.24 },
  { epoch: 5, loss: 0.2327, accuracy: 0.9149, valLoss: 0.2391, valAccuracy: 0.9183, seconds: 110.71, imagesPerSecond: 38.21 },
];

export const EXAMPLE_METRICS = {
  validation: {
    count: 747,
    auc: 0.9681,
    accuracy: 0.921,
    sensitivity: 0.9394,
    specificity: 0.8713,
    precision: 0.9517,
    f1: 0.9455,
    threshold: EXAMPLE_THRESHOLD,
    confusion: { tp: 512, fp: 26, tn: 176, fn: 33 },
  },
  test: {
    count: 879,
    auc: 0.9617,
    accuracy: 0.9124,
    sensitivity: 0.9345,
    specificity: 0.8529,
    precision: 0.9448,
    f1: 0.9396,
    threshold: EXAMPLE_THRESHOLD,
    confusion: { tp: 599, fp: 35, tn: 203, fn: 42 },
  },
};
