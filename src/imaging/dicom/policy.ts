/** What the reader accepts: image SOP classes, configured modalities and (optionally) no lateral views. */
import { AppError } from '../../errors.ts';
import { shown, text, type DataSet } from './parse.ts';
import { TAGS } from './tags.ts';

const IMAGE_SOP_CLASSES: Readonly<Record<string, string>> = {
  '1.2.840.10008.5.1.4.1.1.1': 'Computed Radiography Image Storage',
  '1.2.840.10008.5.1.4.1.1.1.1': 'Digital X-Ray Image Storage - For Presentation',
  '1.2.840.10008.5.1.4.1.1.1.1.1': 'Digital X-Ray Image Storage - For Processing',
  '1.2.840.10008.5.1.4.1.1.1.2': 'Digital Mammography X-Ray Image Storage - For Presentation',
  '1.2.840.10008.5.1.4.1.1.1.2.1': 'Digital Mammography X-Ray Image Storage - For Processing',
  '1.2.840.10008.5.1.4.1.1.1.3': 'Digital Intra-Oral X-Ray Image Storage - For Presentation',
  '1.2.840.10008.5.1.4.1.1.1.3.1': 'Digital Intra-Oral X-Ray Image Storage - For Processing',
  '1.2.840.10008.5.1.4.1.1.2': 'CT Image Storage',
  '1.2.840.10008.5.1.4.1.1.2.1': 'Enhanced CT Image Storage',
  '1.2.840.10008.5.1.4.1.1.4': 'MR Image Storage',
  '1.2.840.10008.5.1.4.1.1.4.1': 'Enhanced MR Image Storage',
  '1.2.840.10008.5.1.4.1.1.6.1': 'Ultrasound Image Storage',
  '1.2.840.10008.5.1.4.1.1.3.1': 'Ultrasound Multi-frame Image Storage',
  '1.2.840.10008.5.1.4.1.1.7': 'Secondary Capture Image Storage',
  '1.2.840.10008.5.1.4.1.1.7.1': 'Multi-frame Single Bit Secondary Capture Image Storage',
  '1.2.840.10008.5.1.4.1.1.7.2': 'Multi-frame Grayscale Byte Secondary Capture Image Storage',
  '1.2.840.10008.5.1.4.1.1.7.3': 'Multi-frame Grayscale Word Secondary Capture Image Storage',
  '1.2.840.10008.5.1.4.1.1.7.4': 'Multi-frame True Color Secondary Capture Image Storage',
  '1.2.840.10008.5.1.4.1.1.12.1': 'X-Ray Angiographic Image Storage',
  '1.2.840.10008.5.1.4.1.1.12.1.1': 'Enhanced XA Image Storage',
  '1.2.840.10008.5.1.4.1.1.12.2': 'X-Ray Radiofluoroscopic Image Storage',
  '1.2.840.10008.5.1.4.1.1.12.2.1': 'Enhanced XRF Image Storage',
  '1.2.840.10008.5.1.4.1.1.13.1.3': 'Breast Tomosynthesis Image Storage',
  '1.2.840.10008.5.1.4.1.1.20': 'Nuclear Medicine Image Storage',
  '1.2.840.10008.5.1.4.1.1.128': 'Positron Emission Tomography Image Storage',
  '1.2.840.10008.5.1.4.1.1.481.1': 'RT Image Storage',
};

const NON_IMAGE_SOP_CLASSES: Readonly<Record<string, string>> = {
  '1.2.840.10008.5.1.4.1.1.88.11': 'Basic Text SR',
  '1.2.840.10008.5.1.4.1.1.88.22': 'Enhanced SR',
  '1.2.840.10008.5.1.4.1.1.88.33': 'Comprehensive SR',
  '1.2.840.10008.5.1.4.1.1.88.34': 'Comprehensive 3D SR',
  '1.2.840.10008.5.1.4.1.1.88.59': 'Key Object Selection Document',
  '1.2.840.10008.5.1.4.1.1.88.67': 'X-Ray Radiation Dose SR',
  '1.2.840.10008.5.1.4.1.1.11.1': 'Grayscale Softcopy Presentation State',
  '1.2.840.10008.5.1.4.1.1.104.1': 'Encapsulated PDF',
  '1.2.840.10008.5.1.4.1.1.104.2': 'Encapsulated CDA',
  '1.2.840.10008.5.1.4.1.1.66.4': 'Segmentation',
  '1.2.840.10008.5.1.4.1.1.9.1.1': '12-lead ECG Waveform',
  '1.2.840.10008.5.1.4.1.1.481.2': 'RT Dose',
  '1.2.840.10008.5.1.4.1.1.481.3': 'RT Structure Set',
};

/** Projections seen from the side (PS3.3 C.8.11.5 ViewPosition defined terms LL, RL, and common spellings). */
export const LATERAL_VIEW_POSITIONS: readonly string[] = Object.freeze(['LL', 'RL', 'LAT', 'LATERAL', 'LLAT', 'RLAT']);

export const DEFAULT_MODALITIES: readonly string[] = Object.freeze(['CR', 'DX']);

export function sopClassName(uid: string | undefined): string | undefined {
  return uid === undefined ? undefined : (IMAGE_SOP_CLASSES[uid] ?? NON_IMAGE_SOP_CLASSES[uid]);
}

/** Refuses objects whose SOP class is not an image storage class (a missing SOP class is left to the PixelData check). */
export function checkSopClass(ds: DataSet): void {
  const uid = text(ds, TAGS.sopClassUid);
  if (uid === undefined || uid in IMAGE_SOP_CLASSES) return;
  const known = NON_IMAGE_SOP_CLASSES[uid] ?? (uid.startsWith('1.2.840.10008.5.1.4.1.1.88.') ? 'Structured Report' : undefined);
  const what = known ? `${uid} (${known}) is not an image` : `${shown(uid)} is not an image storage SOP class this reader accepts`;
  throw new AppError('DICOM_NOT_AN_IMAGE', `${TAGS.sopClassUid.label} ${what}`);
}

export function checkPixelData(ds: DataSet): void {
  if (!ds.elements[TAGS.pixelData.key]) throw new AppError('DICOM_NOT_AN_IMAGE', `DICOM object has no ${TAGS.pixelData.label}`);
}

export function checkModality(ds: DataSet, accepted: readonly string[] | null): void {
  if (accepted === null) return;
  const modality = text(ds, TAGS.modality);
  if (modality === undefined) {
    throw new AppError('DICOM_MODALITY_NOT_ACCEPTED', `DICOM image has no ${TAGS.modality.label}; accepted: ${accepted.join(', ')}`);
  }
  if (!accepted.includes(modality)) {
    throw new AppError(
      'DICOM_MODALITY_NOT_ACCEPTED',
      `${TAGS.modality.label} ${shown(modality, 16)} is not accepted; accepted: ${accepted.join(', ')}`,
    );
  }
}

export function checkViewPosition(ds: DataSet, refuseLateral: boolean): void {
  if (!refuseLateral) return;
  const view = text(ds, TAGS.viewPosition)?.toUpperCase();
  if (view !== undefined && LATERAL_VIEW_POSITIONS.includes(view)) {
    throw new AppError('DICOM_VIEW_NOT_ACCEPTED', `${TAGS.viewPosition.label} ${shown(view, 16)} is a lateral view; frontal (PA, AP) views are read`);
  }
}
