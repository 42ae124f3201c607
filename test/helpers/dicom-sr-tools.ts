/**
 * The real tools the DICOM SR tests read reports with: dcmtk's dsrdump (the SR tree) and dcmdump
 * (the attributes), dicom3tools' dciodvfy (IOD conformance, via dicom-files.ts). Each runs on a file
 * in a private temporary directory.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ToolRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runOnFile(tool: string, args: readonly string[], bytes: Uint8Array): Promise<ToolRun> {
  const dir = await mkdtemp(join(tmpdir(), `${tool}-`));
  try {
    await writeFile(join(dir, 'f.dcm'), bytes);
    try {
      const { stdout, stderr } = await run(tool, [...args, join(dir, 'f.dcm')], { maxBuffer: 16 << 20 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** dsrdump's tree of an SR (exit code, and what it printed). */
export const dsrdump = (bytes: Uint8Array) => runOnFile('dsrdump', ['+Pc'], bytes);

/** dcmdump of a file, UIDs as numbers (not names). */
export const dcmdump = (bytes: Uint8Array) => runOnFile('dcmdump', ['-Un'], bytes);

/** The value dcmdump prints for a top-level attribute, e.g. attribute(dump, '0008,0060') -> 'SR'. */
export function attribute(dump: string, tagText: string): string | undefined {
  const line = dump.split('\n').find((l) => l.startsWith(`(${tagText.toLowerCase()})`));
  if (!line) return undefined;
  const m = /\[([^\]]*)\]|=(\S+)/.exec(line);
  return m ? (m[1] ?? m[2]) : '';
}
