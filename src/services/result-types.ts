/**
 * A result of analysing one DICOM instance, as the results service keeps it: the clear part (what
 * renders it, no patient data) and, apart, the sealed part (encrypted at rest by the result store).
 */
import type { SealedSource } from '../imaging/dicom-sr/source.ts';

export type ResultVia = 'stow-rs' | 'predict';

/** The clear part: safe to keep on disk and to show; nothing in it identifies the patient or the study. */
export interface ResultRecord {
  readonly v: 1;
  readonly id: string;
  /** ISO 8601, UTC. */
  readonly createdAt: string;
  readonly via: ResultVia;
  readonly model: { readonly name: string; readonly version: number; readonly contentHash: string };
  readonly probability: number;
  readonly label: string;
  readonly threshold: number;
  /** The label is the version's positive class (pneumonia for the default model). */
  readonly positive: boolean;
  /** De-identified facts about the source image (codes and sizes from the reader's de-identified header). */
  readonly source: {
    readonly modality: string | null;
    readonly viewPosition: string | null;
    readonly bodyPartExamined: string | null;
    readonly sopClass: string | null;
    readonly rows: number;
    readonly columns: number;
    readonly lossyImageCompression: boolean;
  };
}

/** The sealed part: the source's references and copied attributes, and the report's own UIDs. */
export interface SealedResult {
  readonly source: SealedSource;
  readonly sr: { readonly seriesInstanceUid: string; readonly sopInstanceUid: string; readonly trackingUid: string };
}
