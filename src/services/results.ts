/**
 * Results of analysing DICOM instances: decode, predict, keep a result (id res_...), render it as
 * JSON, as a FHIR R4 Bundle or as a DICOM SR, and store every SR to a PACS through the forward
 * queue when RESULTS_DICOMWEB_URL is set.
 *
 * Patient data: the source's UIDs and the patient and study attributes the SR copies are kept only
 * in the result's sealed part, which the result store encrypts (AES-256-GCM, key from
 * RESULTS_KEY_SECRET); the clear part and everything that reaches Redis (the result id) or a log
 * identify nobody. The key material is RESULTS_KEY_SECRET, else the data dir's own (src/storage/kept-secrets.ts).
 */
import { labelling } from '../domain/labelling.ts';
import { silentLogger, type Logger } from '../domain/logger.ts';
import { randomId } from '../domain/random-id.ts';
import { AppError, isAppError, type ErrorCode } from '../errors.ts';
import { SourceReference, type SealedSource } from '../imaging/dicom-sr/source.ts';
import { writeResultSr } from '../imaging/dicom-sr/sr.ts';
import { newUid } from '../imaging/dicom-sr/uid.ts';
import type { ResultStore } from '../storage/result-store.ts';
import type { PredictionService, PredictionTarget } from './predictions.ts';
import { resultBundle } from './result-fhir.ts';
import type { ResultRecord, ResultVia, SealedResult } from './result-types.ts';
import { StowError, type StoreInstance } from './stow-client.ts';

export type { ResultRecord } from './result-types.ts';

/** What the results service needs to know about the version that answered. */
export interface VersionFacts {
  readonly contentHash: string;
  readonly classNames: readonly [string, string];
}

export interface AnalysedInstance {
  readonly result: ResultRecord;
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
}

/** One instance of a STOW-RS request: stored (a result was made) or failed, with the reason. */
export type StowOutcome =
  | { readonly ok: true; readonly sopClassUid: string; readonly sopInstanceUid: string; readonly resultId: string }
  | {
      readonly ok: false;
      /** The instance's UIDs when they could be read. */
      readonly sopClassUid: string | null;
      readonly sopInstanceUid: string | null;
      readonly code: ErrorCode;
      readonly message: string;
      readonly status: number;
    };

export interface ResultService {
  /** Analyses one DICOM instance and keeps the result (and queues its SR for the PACS, if one is set). */
  analyseDicom(bytes: Uint8Array, target: PredictionTarget, via: ResultVia): Promise<AnalysedInstance>;
  /** Each instance of a STOW-RS request in turn; a failing instance does not stop the others. */
  storeInstances(instances: readonly Uint8Array[], target: PredictionTarget): Promise<StowOutcome[]>;
  /** RESULT_NOT_FOUND */
  get(id: string): Promise<ResultRecord>;
  /** The result as a FHIR R4 Bundle. RESULT_NOT_FOUND */
  fhir(id: string): Promise<Record<string, unknown>>;
  /** The result as a DICOM SR Part 10 file (the same bytes every time). RESULT_NOT_FOUND */
  dicomSr(id: string): Promise<Uint8Array>;
  /** Stores the result's SR to the PACS (the forward worker calls this). */
  forward(id: string): Promise<void>;
  /** Whether an error of forward() will recur however often it is retried. */
  isPermanentForwardError(err: unknown): boolean;
  start(): Promise<void>;
  close(): Promise<void>;
}

export interface ResultServiceOptions {
  /** The encrypted store. */
  readonly store: ResultStore;
  readonly predictions: Pick<PredictionService, 'predictDicom'>;
  /** Content hash and class names of a model version. */
  readonly versionFacts: (name: string, version: number) => Promise<VersionFacts>;
  /** Queues a result for the PACS; null when no RESULTS_DICOMWEB_URL is set. */
  readonly forwarder: { enqueue(resultId: string): Promise<void> } | null;
  /** Stores one SR to the PACS; null when no RESULTS_DICOMWEB_URL is set. */
  readonly storeToPacs: StoreInstance | null;
  readonly maxPixels: number;
  readonly retentionDays: number;
  readonly logger?: Logger;
  /** How often expired results are swept (default 1 h). */
  readonly sweepIntervalMs?: number;
}

const notFound = (id: string) => new AppError('RESULT_NOT_FOUND', `No result ${JSON.stringify(id.slice(0, 64))} (unknown, or older than the retention)`, { id: id.slice(0, 64) });

function isResultRecord(v: Record<string, unknown>, id: string): v is Record<string, unknown> & ResultRecord {
  const model = v.model as Record<string, unknown> | undefined;
  return (
    v.v === 1 &&
    v.id === id &&
    typeof v.createdAt === 'string' &&
    typeof v.probability === 'number' &&
    typeof v.threshold === 'number' &&
    typeof v.label === 'string' &&
    typeof v.positive === 'boolean' &&
    typeof model?.name === 'string' &&
    typeof model.version === 'number' &&
    typeof model.contentHash === 'string' &&
    typeof v.source === 'object' &&
    v.source !== null
  );
}

export function createResultService(opts: ResultServiceOptions): ResultService {
  const log = opts.logger ?? silentLogger;
  const { store, predictions } = opts;
  const maxInflated = opts.maxPixels * 2 + (1 << 20);
  let sweeper: NodeJS.Timeout | undefined;

  async function load(id: string): Promise<{ record: ResultRecord; sealed: SealedResult; source: SourceReference }> {
    const stored = await store.get(id);
    if (!stored || !isResultRecord(stored.clear, id)) throw notFound(id);
    const sealed = stored.sealed as unknown as SealedResult;
    return { record: stored.clear, sealed, source: SourceReference.fromSealed(sealed.source as SealedSource) };
  }

  async function srOf(id: string): Promise<Uint8Array> {
    const { record, sealed, source } = await load(id);
    return writeResultSr({
      source,
      seriesInstanceUid: sealed.sr.seriesInstanceUid,
      sopInstanceUid: sealed.sr.sopInstanceUid,
      trackingUid: sealed.sr.trackingUid,
      createdAt: new Date(record.createdAt),
      model: record.model,
      probability: record.probability,
      threshold: record.threshold,
      positive: record.positive,
    });
  }

  async function analyseDicom(bytes: Uint8Array, target: PredictionTarget, via: ResultVia): Promise<AnalysedInstance> {
    const source = SourceReference.fromBytes(bytes, maxInflated);
    // The service's one DICOM input path: header checks, then the decode in the DICOM threads. A
    // result is never made for a lateral view, whatever DICOM_REFUSE_LATERAL says for predictions.
    const {
      model,
      predictions: [prediction],
    } = await predictions.predictDicom([bytes], target, { refuseLateral: true });
    const h = prediction!.dicom.header;
    const facts = await opts.versionFacts(model.name, model.version);
    const id = randomId('res_');
    const record: ResultRecord = {
      v: 1,
      id,
      createdAt: new Date().toISOString(),
      via,
      model: { name: model.name, version: model.version, contentHash: facts.contentHash },
      probability: prediction!.probability,
      label: prediction!.label,
      threshold: prediction!.threshold,
      positive: prediction!.label === facts.classNames[1],
      source: {
        modality: h.modality,
        viewPosition: h.viewPosition,
        bodyPartExamined: h.bodyPartExamined,
        sopClass: h.sopClass,
        rows: h.rows,
        columns: h.columns,
        lossyImageCompression: h.lossyImageCompression,
      },
    };
    const sealed: SealedResult = {
      source: source.exportForSealing(),
      sr: { seriesInstanceUid: newUid(), sopInstanceUid: newUid(), trackingUid: newUid() },
    };
    await store.put(id, { clear: record as unknown as Record<string, unknown>, sealed: sealed as unknown as Record<string, unknown> });
    if (opts.forwarder) {
      try {
        await opts.forwarder.enqueue(id);
      } catch (err) {
        // All or nothing: a result whose SR cannot be queued for the PACS is not kept, so the client retries.
        await store.delete(id).catch((e: unknown) => log.error({ err: e, resultId: id }, 'could not delete a result that was not queued'));
        throw err;
      }
    }
    log.info({ resultId: id, via, model: model.name, version: model.version, label: record.label }, 'result created');
    return { result: record, sopClassUid: source.sopClassUid(), sopInstanceUid: source.sopInstanceUid() };
  }

  /** The SOP UIDs of an instance whose references could not all be read, for the failure item. */
  function sopUidsOf(bytes: Uint8Array): { sopClassUid: string | null; sopInstanceUid: string | null } {
    try {
      const { sopClassUid, sopInstanceUid } = SourceReference.sopUidsFromBytes(bytes, maxInflated);
      return { sopClassUid, sopInstanceUid };
    } catch {
      return { sopClassUid: null, sopInstanceUid: null };
    }
  }

  return {
    analyseDicom,

    async storeInstances(instances, target) {
      const out: StowOutcome[] = [];
      for (const bytes of instances) {
        try {
          const done = await analyseDicom(bytes, target, 'stow-rs');
          out.push({ ok: true, sopClassUid: done.sopClassUid, sopInstanceUid: done.sopInstanceUid, resultId: done.result.id });
        } catch (err) {
          // Every failure names the instance in the answer; the unexpected ones are logged (without UIDs).
          const known = isAppError(err) ? err : null;
          if (!known || known.status >= 500) log.error({ err }, 'a STOW-RS instance failed');
          out.push({
            ok: false,
            ...sopUidsOf(bytes),
            code: known?.code ?? 'INTERNAL',
            message: known?.message ?? 'Internal server error',
            status: known?.status ?? 500,
          });
        }
      }
      return out;
    },

    async get(id) {
      return (await load(id)).record;
    },

    async fhir(id) {
      const { record, source } = await load(id);
      return resultBundle(record, source);
    },

    dicomSr: srOf,

    async forward(id) {
      if (!opts.storeToPacs) throw new StowError('no PACS configured (RESULTS_DICOMWEB_URL)', true);
      let sr: Uint8Array;
      try {
        sr = await srOf(id);
      } catch (err) {
        if (isAppError(err) && err.code === 'RESULT_NOT_FOUND') throw new StowError(`result ${id} no longer exists`, true);
        throw err;
      }
      await opts.storeToPacs(sr);
    },

    isPermanentForwardError: (err) => err instanceof StowError && err.permanent,

    async start() {
      if (!store) return;
      const maxAgeMs = opts.retentionDays * 24 * 3600_000;
      const sweep = () =>
        store
          .sweep(maxAgeMs)
          .then((removed) => {
            if (removed > 0) log.info({ removed, retentionDays: opts.retentionDays }, 'removed expired results');
          })
          .catch((err: unknown) => log.warn({ err }, 'could not sweep expired results'));
      await sweep();
      sweeper = setInterval(() => void sweep(), opts.sweepIntervalMs ?? 3600_000);
      sweeper.unref();
    },

    async close() {
      if (sweeper) clearInterval(sweeper);
    },
  };
}

/** Class names of a version's metadata, as labelling reads them (for VersionFacts). */
export const classNamesOf = (metadata: Readonly<Record<string, unknown>>): readonly [string, string] => labelling(metadata).classNames;
