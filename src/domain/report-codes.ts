/**
 * The coded concepts results are reported with, in DICOM SR (src/imaging/dicom-sr/sr.ts) and FHIR
 * (src/services/result-fhir.ts) alike, so both say the same thing. Scheme designators are DICOM's
 * (PS3.16 8.1); FHIR_SYSTEMS maps them to FHIR code system URIs.
 */
export interface Code {
  readonly value: string;
  readonly scheme: 'DCM' | 'SCT' | 'LN' | 'UCUM' | 'RFC5646';
  readonly meaning: string;
}

const c = (value: string, scheme: Code['scheme'], meaning: string): Code => Object.freeze({ value, scheme, meaning });

export const CODES = Object.freeze({
  // Findings (SNOMED CT)
  pneumonia: c('233604007', 'SCT', 'Pneumonia'),
  normal: c('17621005', 'SCT', 'Normal'),
  // The procedure (LOINC): what the report is about
  chestXraySingleView: c('36554-4', 'LN', 'XR Chest Single view'),
  // TID 1500 Measurement Report and its parts
  imagingMeasurementReport: c('126000', 'DCM', 'Imaging Measurement Report'),
  language: c('121049', 'DCM', 'Language of Content Item and Descendants'),
  englishUS: c('en-US', 'RFC5646', 'English (United States)'),
  observerType: c('121005', 'DCM', 'Observer Type'),
  device: c('121007', 'DCM', 'Device'),
  deviceObserverUid: c('121012', 'DCM', 'Device Observer UID'),
  deviceObserverName: c('121013', 'DCM', 'Device Observer Name'),
  deviceObserverManufacturer: c('121014', 'DCM', 'Device Observer Manufacturer'),
  deviceObserverModelName: c('121015', 'DCM', 'Device Observer Model Name'),
  procedureReported: c('121058', 'DCM', 'Procedure reported'),
  imageLibrary: c('111028', 'DCM', 'Image Library'),
  imageLibraryGroup: c('126200', 'DCM', 'Image Library Group'),
  imagingMeasurements: c('126010', 'DCM', 'Imaging Measurements'),
  measurementGroup: c('125007', 'DCM', 'Measurement Group'),
  trackingIdentifier: c('112039', 'DCM', 'Tracking Identifier'),
  trackingUniqueIdentifier: c('112040', 'DCM', 'Tracking Unique Identifier'),
  finding: c('121071', 'DCM', 'Finding'),
  conclusion: c('121077', 'DCM', 'Conclusion'),
  probability: c('122157', 'DCM', 'Probability'),
  thresholdValue: c('122411', 'DCM', 'Threshold Value'),
  // TID 4019 Algorithm Identification
  algorithmName: c('111001', 'DCM', 'Algorithm Name'),
  algorithmVersion: c('111003', 'DCM', 'Algorithm Version'),
  algorithmParameters: c('111002', 'DCM', 'Algorithm Parameters'),
  // Units (UCUM): a probability is a number without units
  noUnits: c('1', 'UCUM', 'no units'),
});

/** FHIR code system URIs of the DICOM scheme designators used above. */
export const FHIR_SYSTEMS: Readonly<Record<Code['scheme'], string>> = Object.freeze({
  DCM: 'http://dicom.nema.org/resources/ontology/DCM',
  SCT: 'http://snomed.info/sct',
  LN: 'http://loinc.org',
  UCUM: 'http://unitsofmeasure.org',
  RFC5646: 'urn:ietf:bcp:47',
});
