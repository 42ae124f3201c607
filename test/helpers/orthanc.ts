/**
 * Debian's Orthanc (package orthanc) with its DICOMweb plugin (orthanc-dicomweb) as a real PACS for
 * tests: its own HTTP and DICOM ports, its own storage and index directories in a temporary
 * directory, no authentication, loopback only. The ports are chosen when the PACS is created, so
 * a test can point the service at it before it runs (an outage) and start it later.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './service-process.ts';

export const ORTHANC_BINARY = process.env.ORTHANC_BINARY ?? 'Orthanc';
export const DICOMWEB_PLUGIN = process.env.ORTHANC_DICOMWEB_PLUGIN ?? '/usr/share/orthanc/plugins/libOrthancDicomWeb.so';

export interface Orthanc {
  /** http://127.0.0.1:<port> (Orthanc's REST API). */
  readonly url: string;
  /** The DICOMweb root, as RESULTS_DICOMWEB_URL takes it (no trailing slash). */
  readonly dicomweb: string;
  /** Starts the server and waits until GET /system answers. */
  start(): Promise<void>;
  /** Stops the server (SIGTERM, then waits for it to exit); the storage stays for a later start(). */
  stop(): Promise<void>;
  /** Stops it and removes its directory. */
  dispose(): Promise<void>;
  /** What it printed (for failure messages). */
  output(): string;
}

/** Throws, saying what to install, when Orthanc or its DICOMweb plugin is missing (no silent skip). */
export async function requireOrthanc(): Promise<void> {
  const found = await new Promise<boolean>((resolve) => {
    const p = spawn('sh', ['-c', `command -v ${ORTHANC_BINARY}`], { stdio: 'ignore', env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` } });
    p.once('error', () => resolve(false));
    p.once('exit', (code) => resolve(code === 0));
  });
  if (!found) throw new Error(`${ORTHANC_BINARY} not found: this test needs Debian's Orthanc (apt-get install orthanc orthanc-dicomweb)`);
  try {
    await access(DICOMWEB_PLUGIN);
  } catch {
    throw new Error(`${DICOMWEB_PLUGIN} not found: this test needs Orthanc's DICOMweb plugin (apt-get install orthanc-dicomweb)`);
  }
}

export async function createOrthanc(readyTimeoutMs = 20_000): Promise<Orthanc> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cxr-orthanc-'));
  const httpPort = await freePort();
  let dicomPort = await freePort();
  while (dicomPort === httpPort) dicomPort = await freePort();
  const configPath = path.join(dir, 'orthanc.json');
  await writeFile(
    configPath,
    JSON.stringify(
      {
        Name: 'cxr-test-pacs',
        HttpPort: httpPort,
        DicomPort: dicomPort,
        DicomAet: 'CXRTESTPACS',
        StorageDirectory: path.join(dir, 'storage'),
        IndexDirectory: path.join(dir, 'index'),
        Plugins: [DICOMWEB_PLUGIN],
        DicomWeb: { Enable: true, Root: '/dicom-web/' },
        AuthenticationEnabled: false,
        RemoteAccessAllowed: false,
        HttpDescribeErrors: true,
      },
      null,
      2,
    ),
  );
  const url = `http://127.0.0.1:${httpPort}`;
  let proc: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let out = '';

  const api: Orthanc = {
    url,
    dicomweb: `${url}/dicom-web`,
    async start() {
      if (proc) throw new Error('Orthanc already started');
      const child = spawn(ORTHANC_BINARY, [configPath], {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` },
      });
      proc = child;
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      let gone = false;
      exited = new Promise((resolve) => {
        child.once('exit', () => {
          gone = true;
          resolve();
        });
        child.once('error', (err) => {
          out += `\nspawn error: ${err.message}`;
          gone = true;
          resolve();
        });
      });
      const until = Date.now() + readyTimeoutMs;
      for (;;) {
        if (gone) {
          proc = undefined;
          throw new Error(`Orthanc exited before answering:\n${out.slice(-4000)}`);
        }
        try {
          const res = await fetch(`${url}/system`, { signal: AbortSignal.timeout(1000) });
          if (res.ok) {
            const system = (await res.json()) as { Name?: string };
            // Another server on the same port would answer something else.
            if (system.Name === 'cxr-test-pacs') return;
          }
        } catch {
          // Not listening yet.
        }
        if (Date.now() > until) {
          await api.stop();
          throw new Error(`Orthanc did not answer GET /system in ${readyTimeoutMs} ms:\n${out.slice(-4000)}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      const child = proc;
      if (!child) return;
      proc = undefined;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    },
    async dispose() {
      await api.stop();
      await rm(dir, { recursive: true, force: true });
    },
    output: () => out,
  };
  return api;
}

/** The parts of a multipart/related answer (WADO-RS), by the boundary of its Content-Type. */
export function multipartParts(body: Buffer, contentType: string): { headers: string; body: Buffer }[] {
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  if (!m) throw new Error(`no boundary in ${contentType}`);
  const delimiter = Buffer.from(`--${m[1] ?? m[2]}`);
  const parts: { headers: string; body: Buffer }[] = [];
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const next = at + delimiter.length;
    if (body.subarray(next, next + 2).toString() === '--') break;
    const headerEnd = body.indexOf('\r\n\r\n', next);
    if (headerEnd < 0) throw new Error('multipart part without a header end');
    const end = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), headerEnd + 4);
    if (end < 0) throw new Error('multipart part without a closing delimiter');
    parts.push({ headers: body.subarray(next, headerEnd).toString('latin1'), body: body.subarray(headerEnd + 4, end) });
    at = end + 2;
  }
  return parts;
}
