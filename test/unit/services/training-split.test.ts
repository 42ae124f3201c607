/**
 * planSplit with DICOM patient keys: the keyed hash of PatientID stored per image groups the
 * split (no patient in two splits), and it takes precedence over a group pattern on the path.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_TRAINING_PARAMS, type TrainingParams } from '../../../src/domain/training-params.ts';
import { IMAGE_LEVEL_SPLIT_WARNING, planSplit } from '../../../src/services/training.ts';
import type { SplitIndices } from '../../../src/ml/types.ts';
import type { DatasetImage, DatasetManifest } from '../../../src/storage/dataset-types.ts';

function manifestOf(images: DatasetImage[]): DatasetManifest {
  return {
    id: 'ds_aaaaaaaaaaaaaaaa',
    name: 't',
    createdAt: new Date(0).toISOString(),
    size: 64,
    classNames: ['NORMAL', 'PNEUMONIA'],
    positiveClass: 'PNEUMONIA',
    counts: { images: images.length, byClass: {}, bySplit: {}, skipped: 0, duplicates: 0 },
    images,
    skipped: [],
    contentHash: 'x',
    source: { kind: 'zip', bytes: 1 },
  };
}

const params = (over: Partial<TrainingParams> = {}): TrainingParams => ({ ...DEFAULT_TRAINING_PARAMS, seed: 7, ...over });

/** 30 patients with 4 images each; the patient's images sit in folders named after another "patient" on purpose. */
function dicomImages(): DatasetImage[] {
  const images: DatasetImage[] = [];
  for (let p = 0; p < 30; p++) {
    for (let k = 0; k < 4; k++) {
      const n = p * 4 + k;
      images.push({
        hash: `h${n}`,
        label: (p % 2) as 0 | 1,
        className: p % 2 ? 'PNEUMONIA' : 'NORMAL',
        // The folder groups images of different patients together (k decides it), so the pattern disagrees with PatientID.
        source: `${p % 2 ? 'PNEUMONIA' : 'NORMAL'}/folder${k}/img${n}.dcm`,
        patientKey: `key-${p}-`.padEnd(32, 'x'),
      });
    }
  }
  return images;
}

function splitOfEach(images: DatasetImage[], split: SplitIndices): Map<string, Set<string>> {
  const where = new Map<string, Set<string>>();
  for (const name of ['train', 'validation', 'test'] as const) {
    for (const i of split[name]) {
      const key = images[i]!.patientKey ?? images[i]!.hash;
      const set = where.get(key) ?? new Set<string>();
      set.add(name);
      where.set(key, set);
    }
  }
  return where;
}

describe('planSplit with DICOM patient keys', () => {
  it('never puts one patient in two splits, and says the split is by patient from DICOM', () => {
    const images = dicomImages();
    const { split, grouping } = planSplit(manifestOf(images), params());
    expect(split.train.length + split.validation.length + split.test.length).toBe(images.length);
    expect(split.test.length).toBeGreaterThan(0);
    for (const [key, splits] of splitOfEach(images, split)) expect({ key, splits: [...splits] }).toEqual({ key, splits: [expect.any(String)] });
    expect(grouping).toMatchObject({ method: 'patient', fromDicom: 120, matched: 120, unmatched: 0, patients: expect.any(Object) });
    expect(grouping.warning).toBeUndefined();
    const p = grouping.patients!;
    expect(p.train + p.validation + p.test).toBe(30);
  });

  it('takes the DICOM key over a group pattern; images without one still follow the pattern', () => {
    const images = dicomImages();
    // The pattern would join the 4 images in the same folderK across patients; the DICOM keys win.
    const { split, grouping } = planSplit(manifestOf(images), params({ groupPattern: '/(folder\\d)/' }));
    for (const [, splits] of splitOfEach(images, split)) expect(splits.size).toBe(1);
    // Were the pattern applied to them, all images of a class would share 4 groups: nearly all in one split.
    const folder0 = images.flatMap((img, i) => (img.source.includes('/folder0/') ? [i] : []));
    const splitsOfFolder0 = new Set(folder0.map((i) => (split.train.includes(i) ? 'train' : split.validation.includes(i) ? 'validation' : 'test')));
    expect(splitsOfFolder0.size).toBeGreaterThan(1);
    expect(grouping).toMatchObject({ method: 'patient', pattern: '/(folder\\d)/', fromDicom: 120 });

    // Mixed: PNGs without a key grouped by the pattern, DICOM ones by their key.
    const mixed = [
      ...images,
      ...Array.from({ length: 20 }, (_, n): DatasetImage => ({
        hash: `png${n}`,
        label: (n % 2) as 0 | 1,
        className: n % 2 ? 'PNEUMONIA' : 'NORMAL',
        source: `${n % 2 ? 'PNEUMONIA' : 'NORMAL'}/patient${n % 4}/x${n}.png`,
      })),
    ];
    const withPattern = planSplit(manifestOf(mixed), params({ groupPattern: '/(patient\\d)/' }));
    const bucket = (i: number) => (withPattern.split.train.includes(i) ? 'train' : withPattern.split.validation.includes(i) ? 'validation' : 'test');
    for (let q = 0; q < 4; q++) {
      const members = mixed.flatMap((img, i) => (img.source.includes(`/patient${q}/`) ? [i] : []));
      expect(new Set(members.map(bucket)).size).toBe(1);
    }
    expect(withPattern.grouping).toMatchObject({ fromDicom: 120, matched: 140, unmatched: 0 });
  });

  it('without keys or a pattern the split stays by image, with the warning', () => {
    const images = dicomImages().map(({ patientKey: _key, ...img }) => img);
    const { grouping } = planSplit(manifestOf(images), params());
    expect(grouping).toEqual({ method: 'image', warning: IMAGE_LEVEL_SPLIT_WARNING });
  });
});
