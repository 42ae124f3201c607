/**
 * Where an image sits in an uploaded dataset says its class and maybe its split:
 *   [any wrapper folders/] [train|val|validation|test/] CLASS/ file.(png|jpg|jpeg|dcm|dicom)
 * The class folder is the file's immediate parent. Files named as DICOM files often are, without
 * an extension (IM000001) or after their UID (1.2.840.113619.2.55.3.4), are images when their
 * content is DICOM (the import sniffs them). Pure: paths in, placements out.
 */
import { AppError } from '../errors.ts';
import type { SplitName } from '../ml/types.ts';

/** Codes of skipped entries as recorded in manifests (decode failures use the decode error's code). */
export const SKIP = {
  SYSTEM_FILE: 'SYSTEM_FILE',
  NOT_AN_IMAGE: 'NOT_AN_IMAGE',
  NOT_IN_CLASS_FOLDER: 'NOT_IN_CLASS_FOLDER',
  NOT_A_FILE: 'NOT_A_FILE',
  ENTRY_TOO_LARGE: 'ENTRY_TOO_LARGE',
  ENTRY_ENCRYPTED: 'ENTRY_ENCRYPTED',
  UNSUPPORTED_COMPRESSION: 'UNSUPPORTED_COMPRESSION',
  DUPLICATE: 'DUPLICATE',
  CONFLICTING_LABEL: 'CONFLICTING_LABEL',
} as const;

export type Placement =
  /** sniffDicom: the name says nothing; the file is an image only if its content is DICOM. */
  | { kind: 'image'; className: string; label: 0 | 1; split?: SplitName; sniffDicom?: true }
  | { kind: 'skip'; code: string; reason: string };

export interface DatasetLayout {
  /** [negative, positive] */
  readonly classNames: readonly [string, string];
  readonly positiveClass: string;
  place(path: string): Placement;
}

export const DEFAULT_CLASS_NAMES = ['NORMAL', 'PNEUMONIA'] as const;

/** Folder names (lower case) that mean a split. A Map: folder names come from the client. */
const SPLITS: ReadonlyMap<string, SplitName> = new Map([
  ['train', 'train'],
  ['val', 'validation'],
  ['validation', 'validation'],
  ['test', 'test'],
]);

const SYSTEM_NAMES = new Set(['__macosx', 'thumbs.db', 'desktop.ini', 'ehthumbs.db']);
const IMAGE_EXTENSIONS = /\.(png|jpe?g|jpe|jfif|dcm|dicom)$/i;
/** The last part of a UID-like name: digits after the final dot. */
const NUMERIC_EXTENSION = /\.\d+$/;

function segmentsOf(path: string): string[] {
  return path.split('/').filter((s) => s !== '' && s !== '.');
}

/** __MACOSX/, .DS_Store and other dotfiles or dot-folders, Thumbs.db, desktop.ini. */
export function isSystemPath(path: string): boolean {
  return segmentsOf(path).some((s) => s.startsWith('.') || SYSTEM_NAMES.has(s.toLowerCase()));
}

export function hasImageExtension(path: string): boolean {
  return IMAGE_EXTENSIONS.test(path);
}

/** A name DICOM files often have: no extension at all, or a UID (digits after the last dot). */
export function maybeDicomName(path: string): boolean {
  const name = path.slice(path.lastIndexOf('/') + 1);
  return name !== '' && name.toUpperCase() !== 'DICOMDIR' && (!name.includes('.') || NUMERIC_EXTENSION.test(name));
}

export function splitOf(folder: string | undefined): SplitName | undefined {
  return folder === undefined ? undefined : SPLITS.get(folder.toLowerCase());
}

interface Where {
  classFolder: string;
  split?: SplitName;
  /** Path of the folder holding the class folders (or the split folders). */
  root: string;
}

function whereOf(path: string): Where | undefined {
  const dirs = segmentsOf(path).slice(0, -1);
  const classFolder = dirs.at(-1);
  if (classFolder === undefined || splitOf(classFolder)) return undefined;
  const split = splitOf(dirs.at(-2));
  return { classFolder, split, root: dirs.slice(0, split ? -2 : -1).join('/') };
}

function skipFor(path: string): Placement | undefined {
  if (isSystemPath(path)) return { kind: 'skip', code: SKIP.SYSTEM_FILE, reason: 'system file' };
  if (!hasImageExtension(path) && !maybeDicomName(path)) return { kind: 'skip', code: SKIP.NOT_AN_IMAGE, reason: 'not an image' };
  return undefined;
}

/** The image placement, marked for sniffing when only the content can say. */
function imageAt(path: string, className: string, label: 0 | 1, split: SplitName | undefined): Placement {
  return { kind: 'image', className, label, split, ...(hasImageExtension(path) ? {} : { sniffDicom: true as const }) };
}

function listCounts(counts: Map<string, { name: string; files: number }>): string {
  return [...counts.values()].map((c) => `${c.name} (${c.files} files)`).join(', ');
}

function defaultLayout(imagePaths: readonly string[]): DatasetLayout {
  const [negative, positive] = DEFAULT_CLASS_NAMES;
  const found = new Map<string, { name: string; files: number }>();
  const elsewhere = new Set<string>();
  for (const path of imagePaths) {
    const where = whereOf(path);
    const name = where?.classFolder.toUpperCase();
    if (name === negative || name === positive) {
      const c = found.get(name) ?? { name, files: 0 };
      c.files++;
      found.set(name, c);
    } else if (where) {
      elsewhere.add(where.classFolder);
    }
  }
  if (found.size === 0) {
    const others = [...elsewhere].slice(0, 10).join(', ');
    throw new AppError(
      'DATASET_NO_IMAGES',
      `no images in ${negative}/ or ${positive}/ folders (${imagePaths.length} images elsewhere` +
        `${others ? `, in folders: ${others}` : ''}); set positiveClass to use other class names`,
    );
  }
  if (found.size === 1) {
    throw new AppError(
      'DATASET_ONE_CLASS',
      `found one class only: ${listCounts(found)}; a dataset needs both ${negative} and ${positive}`,
    );
  }
  return {
    classNames: DEFAULT_CLASS_NAMES,
    positiveClass: positive,
    place(path) {
      const skip = skipFor(path);
      if (skip) return skip;
      const where = whereOf(path);
      const name = where?.classFolder.toUpperCase();
      if (where && (name === negative || name === positive)) {
        return imageAt(path, name, name === positive ? 1 : 0, where.split);
      }
      return {
        kind: 'skip',
        code: SKIP.NOT_IN_CLASS_FOLDER,
        reason: `not in a ${negative}/ or ${positive}/ folder`,
      };
    },
  };
}

function configuredLayout(imagePaths: readonly string[], positiveClass: string): DatasetLayout {
  const positiveKey = positiveClass.toLowerCase();
  const roots = new Set<string>();
  for (const path of imagePaths) {
    const where = whereOf(path);
    if (where && where.classFolder.toLowerCase() === positiveKey) roots.add(where.root);
  }
  const classes = new Map<string, { name: string; files: number }>();
  for (const path of imagePaths) {
    const where = whereOf(path);
    if (!where || !roots.has(where.root)) continue;
    const key = where.classFolder.toLowerCase();
    const c = classes.get(key) ?? { name: where.classFolder, files: 0 };
    c.files++;
    classes.set(key, c);
  }
  const positive = classes.get(positiveKey);
  if (!positive) {
    const folders = new Set(imagePaths.flatMap((p) => whereOf(p)?.classFolder ?? []));
    throw new AppError(
      'DATASET_CLASSES_INVALID',
      `positive class '${positiveClass}' not found; folders holding images: ${[...folders].slice(0, 10).join(', ') || 'none'}`,
    );
  }
  const negatives = [...classes.entries()].filter(([key]) => key !== positiveKey);
  if (negatives.length === 0) {
    throw new AppError(
      'DATASET_ONE_CLASS',
      `found one class only: ${listCounts(classes)}; a dataset needs a second class folder beside '${positive.name}'`,
    );
  }
  if (negatives.length > 1) {
    throw new AppError(
      'DATASET_CLASSES_INVALID',
      `expected exactly two class folders, found ${classes.size}: ${listCounts(classes)}`,
    );
  }
  const [negativeKey, negative] = negatives[0]!;
  return {
    classNames: [negative.name, positive.name],
    positiveClass: positive.name,
    place(path) {
      const skip = skipFor(path);
      if (skip) return skip;
      const where = whereOf(path);
      if (where && roots.has(where.root)) {
        const key = where.classFolder.toLowerCase();
        if (key === positiveKey) return imageAt(path, positive.name, 1, where.split);
        if (key === negativeKey) return imageAt(path, negative.name, 0, where.split);
      }
      return {
        kind: 'skip',
        code: SKIP.NOT_IN_CLASS_FOLDER,
        reason: `not in a ${negative.name}/ or ${positive.name}/ folder`,
      };
    },
  };
}

/**
 * Decides the classes from the paths of every file (before anything is decoded) and returns where
 * each path belongs. Refuses layouts with no images, one class, or (with positiveClass) not
 * exactly two classes.
 */
export function resolveLayout(paths: Iterable<string>, opts: { positiveClass?: string } = {}): DatasetLayout {
  const imagePaths = [...paths].filter((p) => !skipFor(p));
  if (imagePaths.length === 0) {
    throw new AppError('DATASET_NO_IMAGES', 'no PNG, JPEG or DICOM files found');
  }
  return opts.positiveClass === undefined
    ? defaultLayout(imagePaths)
    : configuredLayout(imagePaths, opts.positiveClass);
}
