/** The attributes the reader uses, as dicom-parser keys ('xggggeeee') with their PS3.6 names for messages. */

export interface Tag {
  readonly key: string;
  /** "(0028,0010) Rows": how error messages name it. */
  readonly label: string;
}

function t(group: number, element: number, name: string): Tag {
  const g = group.toString(16).padStart(4, '0');
  const e = element.toString(16).padStart(4, '0');
  return Object.freeze({ key: `x${g}${e}`, label: `(${g.toUpperCase()},${e.toUpperCase()}) ${name}` });
}

export const TAGS = Object.freeze({
  transferSyntaxUid: t(0x0002, 0x0010, 'TransferSyntaxUID'),
  sopClassUid: t(0x0008, 0x0016, 'SOPClassUID'),
  sopInstanceUid: t(0x0008, 0x0018, 'SOPInstanceUID'),
  modality: t(0x0008, 0x0060, 'Modality'),
  patientId: t(0x0010, 0x0020, 'PatientID'),
  bodyPartExamined: t(0x0018, 0x0015, 'BodyPartExamined'),
  viewPosition: t(0x0018, 0x5101, 'ViewPosition'),
  studyInstanceUid: t(0x0020, 0x000d, 'StudyInstanceUID'),
  seriesInstanceUid: t(0x0020, 0x000e, 'SeriesInstanceUID'),
  samplesPerPixel: t(0x0028, 0x0002, 'SamplesPerPixel'),
  photometricInterpretation: t(0x0028, 0x0004, 'PhotometricInterpretation'),
  numberOfFrames: t(0x0028, 0x0008, 'NumberOfFrames'),
  rows: t(0x0028, 0x0010, 'Rows'),
  columns: t(0x0028, 0x0011, 'Columns'),
  bitsAllocated: t(0x0028, 0x0100, 'BitsAllocated'),
  bitsStored: t(0x0028, 0x0101, 'BitsStored'),
  highBit: t(0x0028, 0x0102, 'HighBit'),
  pixelRepresentation: t(0x0028, 0x0103, 'PixelRepresentation'),
  windowCenter: t(0x0028, 0x1050, 'WindowCenter'),
  windowWidth: t(0x0028, 0x1051, 'WindowWidth'),
  rescaleIntercept: t(0x0028, 0x1052, 'RescaleIntercept'),
  rescaleSlope: t(0x0028, 0x1053, 'RescaleSlope'),
  voiLutFunction: t(0x0028, 0x1056, 'VOILUTFunction'),
  lossyImageCompression: t(0x0028, 0x2110, 'LossyImageCompression'),
  modalityLutSequence: t(0x0028, 0x3000, 'ModalityLUTSequence'),
  lutDescriptor: t(0x0028, 0x3002, 'LUTDescriptor'),
  lutData: t(0x0028, 0x3006, 'LUTData'),
  voiLutSequence: t(0x0028, 0x3010, 'VOILUTSequence'),
  pixelData: t(0x7fe0, 0x0010, 'PixelData'),
});
