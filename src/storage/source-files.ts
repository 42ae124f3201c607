/** What the zip reader and the directory walker hand to a dataset import, one file at a time. */

export interface SourceLimits {
  /** Sum of the (declared) uncompressed sizes of every entry. */
  maxUncompressedBytes: number;
  maxEntries: number;
  /** A single file larger than this is skipped unread. */
  maxEntryBytes: number;
}

export interface SourceFile {
  /** Relative, '/'-separated, no '.' or '..' segments. */
  readonly path: string;
  /** Declared size in bytes (uncompressed). */
  readonly size: number;
  /** Why the file cannot be read at all (encrypted, too large, not a regular file...). */
  readonly problem?: { code: string; reason: string };
  /** The file's bytes; call at most once, and only while the visit callback runs. */
  read(): Promise<Buffer>;
}

export interface SourceScan {
  /** Entries of any kind (zip entries, or files and links in a directory). */
  entries: number;
  /** Declared bytes of every entry. */
  bytes: number;
  /** Paths of every file (not folder). */
  files: string[];
}

export type VisitFile = (file: SourceFile) => Promise<void>;
