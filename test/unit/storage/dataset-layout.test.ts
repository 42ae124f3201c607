import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.ts';
import { resolveLayout, SKIP, type Placement } from '../../../src/storage/dataset-layout.ts';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return (err as AppError).code;
  }
  return undefined;
}

const image = (className: string, label: 0 | 1, split?: string): Placement =>
  ({ kind: 'image', className, label, split }) as Placement;

describe('resolveLayout', () => {
  it('reads class folders at the root', () => {
    const layout = resolveLayout(['NORMAL/a.png', 'PNEUMONIA/b.jpeg']);
    expect(layout.classNames).toEqual(['NORMAL', 'PNEUMONIA']);
    expect(layout.positiveClass).toBe('PNEUMONIA');
    expect(layout.place('NORMAL/a.png')).toEqual(image('NORMAL', 0));
    expect(layout.place('PNEUMONIA/b.jpeg')).toEqual(image('PNEUMONIA', 1));
  });

  it('is case-insensitive for class, split and extension', () => {
    const layout = resolveLayout(['normal/a.PNG', 'Pneumonia/b.JPG', 'Train/NoRmAl/c.Jpeg']);
    expect(layout.place('normal/a.PNG')).toEqual(image('NORMAL', 0));
    expect(layout.place('Pneumonia/b.JPG')).toEqual(image('PNEUMONIA', 1));
    expect(layout.place('Train/NoRmAl/c.Jpeg')).toEqual(image('NORMAL', 0, 'train'));
  });

  it.each(['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf'])(
    'a %s folder is an ordinary folder name: a wrapper, a class, or skipped for what it is',
    (name) => {
      const wrapped = resolveLayout([`${name}/NORMAL/a.png`, `${name}/PNEUMONIA/b.png`]);
      expect(wrapped.place(`${name}/NORMAL/a.png`)).toEqual(image('NORMAL', 0));
      expect(wrapped.place(`${name}/NORMAL/a.png`)).not.toHaveProperty('split', expect.anything());
      expect(wrapped.place(`train/${name}/x.png`)).toEqual({
        kind: 'skip',
        code: SKIP.NOT_IN_CLASS_FOLDER,
        reason: 'not in a NORMAL/ or PNEUMONIA/ folder',
      });
      const asClass = resolveLayout([`${name}/a.png`, `train/other/b.png`, `other/c.png`], { positiveClass: name });
      expect(asClass.classNames).toEqual(['other', name]);
      expect(asClass.place(`${name}/a.png`)).toEqual(image(name, 1));
      const negative = resolveLayout([`${name}/a.png`, 'sick/b.png'], { positiveClass: 'sick' });
      expect(negative.classNames).toEqual([name, 'sick']);
      expect(negative.place(`${name}/a.png`)).toEqual(image(name, 0));
      // Not a split folder: the images directly inside it are a class of their own, not a split.
      const one = (() => {
        try {
          resolveLayout([`${name}/a.png`, 'NORMAL/b.png']);
        } catch (err) {
          return (err as AppError).message;
        }
      })();
      expect(one).toBe('found one class only: NORMAL (1 files); a dataset needs both NORMAL and PNEUMONIA');
    },
  );

  it('reads train/ val/ validation/ test/ folders as splits', () => {
    const layout = resolveLayout(['train/NORMAL/a.png', 'val/PNEUMONIA/b.png', 'validation/NORMAL/c.png', 'test/PNEUMONIA/d.png']);
    expect(layout.place('train/NORMAL/a.png')).toEqual(image('NORMAL', 0, 'train'));
    expect(layout.place('val/PNEUMONIA/b.png')).toEqual(image('PNEUMONIA', 1, 'validation'));
    expect(layout.place('validation/NORMAL/c.png')).toEqual(image('NORMAL', 0, 'validation'));
    expect(layout.place('test/PNEUMONIA/d.png')).toEqual(image('PNEUMONIA', 1, 'test'));
  });

  it('accepts wrapper folders of any name and depth (the Kaggle layout)', () => {
    const layout = resolveLayout(['chest_xray/train/NORMAL/a.jpeg', 'chest_xray/train/PNEUMONIA/b.jpeg']);
    expect(layout.place('chest_xray/train/NORMAL/a.jpeg')).toEqual(image('NORMAL', 0, 'train'));
    const deep = resolveLayout(['x/y/z/NORMAL/a.png', 'x/y/z/PNEUMONIA/b.png']);
    expect(deep.place('x/y/z/PNEUMONIA/b.png')).toEqual(image('PNEUMONIA', 1));
  });

  it('skips system files, non-images and stray images with reasons', () => {
    const layout = resolveLayout(['NORMAL/a.png', 'PNEUMONIA/b.png']);
    const skip = (path: string) => layout.place(path) as Extract<Placement, { kind: 'skip' }>;
    for (const p of ['__MACOSX/NORMAL/._a.png', 'NORMAL/.DS_Store', 'NORMAL/Thumbs.db', '.hidden/NORMAL/a.png']) {
      expect(skip(p)).toEqual({ kind: 'skip', code: SKIP.SYSTEM_FILE, reason: 'system file' });
    }
    expect(skip('NORMAL/notes.txt')).toEqual({ kind: 'skip', code: SKIP.NOT_AN_IMAGE, reason: 'not an image' });
    expect(skip('NORMAL/notes.json').code).toBe(SKIP.NOT_AN_IMAGE);
    expect(skip('NORMAL/DICOMDIR').code).toBe(SKIP.NOT_AN_IMAGE);
    expect(skip('readme.png').code).toBe(SKIP.NOT_IN_CLASS_FOLDER);
    expect(skip('COVID/c.png').code).toBe(SKIP.NOT_IN_CLASS_FOLDER);
    expect(skip('train/c.png').code).toBe(SKIP.NOT_IN_CLASS_FOLDER);
  });

  it('takes .dcm/.dicom files as images, and files named as DICOM files often are (no extension, a UID) when their content is DICOM', () => {
    const layout = resolveLayout(['NORMAL/a.dcm', 'PNEUMONIA/IM000001', 'PNEUMONIA/1.2.840.113619.2.55.3.4']);
    expect(layout.place('NORMAL/a.dcm')).toEqual(image('NORMAL', 0));
    expect(layout.place('NORMAL/b.DICOM')).toEqual(image('NORMAL', 0));
    expect(layout.place('PNEUMONIA/IM000001')).toEqual({ ...image('PNEUMONIA', 1), sniffDicom: true });
    expect(layout.place('PNEUMONIA/1.2.840.113619.2.55.3.4')).toEqual({ ...image('PNEUMONIA', 1), sniffDicom: true });
    expect(layout.place('PNEUMONIA/scan.v2').kind).toBe('skip');
    // Only DICOM-named files still make a two-class layout.
    expect(resolveLayout(['x/NORMAL/IM1', 'x/PNEUMONIA/IM2']).classNames).toEqual(['NORMAL', 'PNEUMONIA']);
  });

  it('takes other class names when the positive class is configured', () => {
    const paths = ['data/cats/a.png', 'data/Dogs/b.png', 'data/readme.png', 'elsewhere/birds/c.png'];
    const layout = resolveLayout(paths, { positiveClass: 'dogs' });
    expect(layout.classNames).toEqual(['cats', 'Dogs']);
    expect(layout.positiveClass).toBe('Dogs');
    expect(layout.place('data/cats/a.png')).toEqual(image('cats', 0));
    expect(layout.place('data/Dogs/b.png')).toEqual(image('Dogs', 1));
    expect(layout.place('elsewhere/birds/c.png')).toMatchObject({ kind: 'skip', code: SKIP.NOT_IN_CLASS_FOLDER });
    expect(layout.place('data/readme.png')).toMatchObject({ kind: 'skip', code: SKIP.NOT_IN_CLASS_FOLDER });
    const split = resolveLayout(['train/cats/a.png', 'test/dogs/b.png'], { positiveClass: 'DOGS' });
    expect(split.place('test/dogs/b.png')).toEqual(image('dogs', 1, 'test'));
  });

  it('refuses layouts without two classes', () => {
    expect(codeOf(() => resolveLayout([]))).toBe('DATASET_NO_IMAGES');
    expect(codeOf(() => resolveLayout(['NORMAL/a.txt', '__MACOSX/NORMAL/a.png']))).toBe('DATASET_NO_IMAGES');
    expect(codeOf(() => resolveLayout(['cats/a.png', 'dogs/b.png']))).toBe('DATASET_NO_IMAGES');
    expect(codeOf(() => resolveLayout(['NORMAL/a.png', 'NORMAL/b.png']))).toBe('DATASET_ONE_CLASS');
    expect(codeOf(() => resolveLayout(['dogs/a.png'], { positiveClass: 'dogs' }))).toBe('DATASET_ONE_CLASS');
    expect(codeOf(() => resolveLayout(['cats/a.png', 'birds/b.png'], { positiveClass: 'dogs' }))).toBe(
      'DATASET_CLASSES_INVALID',
    );
    expect(
      codeOf(() => resolveLayout(['cats/a.png', 'birds/b.png', 'dogs/c.png'], { positiveClass: 'dogs' })),
    ).toBe('DATASET_CLASSES_INVALID');
  });

  it('says what it found when refusing', () => {
    try {
      resolveLayout(['PNEUMONIA/a.png', 'PNEUMONIA/b.png', 'PNEUMONIA/c.png']);
      expect.unreachable();
    } catch (err) {
      expect((err as AppError).message).toMatch(/PNEUMONIA \(3 files\)/);
    }
  });
});
