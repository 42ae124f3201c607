/**
 * The dashboard end to end in real Chromium (Debian's, driven by playwright-core): a started
 * service (API + worker child processes, own DATA_DIR and queue prefix, API keys on), the bundle
 * built from ui/ as `npm ci` builds it. Upload -> train with live curves -> version -> promote ->
 * try a picture -> cancel a job -> a bad zip's reason. Screenshots go to tmp/screenshots.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xrayDicom } from '../helpers/dicom-files.ts';
import { xrayFile } from '../helpers/image-files.ts';
import { ROOT, startService, type ServiceProcess } from '../helpers/service-process.ts';
import { rawZip, writeZip, xrayItems } from '../helpers/zips.ts';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = path.join(ROOT, 'tmp', 'screenshots');
const ADMIN_KEY = 'e2e-admin-key-0123456789';
const PREDICT_KEY = 'e2e-predict-key-0123456789';
const STEP_MS = 180_000;

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI !== 'true') {
  console.warn(`\n*** dashboard e2e SKIPPED: no ${CHROMIUM} (apt-get install chromium); under CI=true this fails instead ***\n`);
}

describe.runIf(!haveChromium && process.env.CI === 'true')('dashboard e2e prerequisites', () => {
  it(`needs Chromium at ${CHROMIUM} under CI`, () => {
    throw new Error(`${CHROMIUM} is missing: .ci/run must install Debian's chromium for the dashboard tests`);
  });
});

describe.runIf(haveChromium)('the dashboard in Chromium against a started service', () => {
  let service: ServiceProcess;
  let browser: Browser;
  let page: Page;
  let work: string;
  const consoleErrors: string[] = [];
  const failedResponses: string[] = [];
  const notReady: Promise<string>[] = [];

  beforeAll(async () => {
    // The bundle under test is the one built from the current ui/ sources, as `npm ci` builds it.
    const build = spawnSync(process.execPath, ['scripts/build-ui.mjs'], { cwd: ROOT, encoding: 'utf8' });
    expect(build.status, build.stdout + build.stderr).toBe(0);
    expect(existsSync(path.join(ROOT, 'ui', 'dist', 'index.html'))).toBe(true);

    work = await mkdtemp(path.join(os.tmpdir(), 'cxr-e2e-'));
    await mkdir(SHOTS, { recursive: true });
    service = await startService(import.meta.url, { API_KEYS: `${ADMIN_KEY}:admin,${PREDICT_KEY}:predict` }, 120_000);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (err) => consoleErrors.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
      // HTTP error statuses are logged by Chromium as "Failed to load resource"; they are checked
      // one by one against the expected ones below instead.
      if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) consoleErrors.push(msg.text());
    });
    page.on('response', (res) => {
      const where = new URL(res.url()).pathname;
      if (res.status() >= 400) failedResponses.push(`${res.request().method()} ${where} ${res.status()}`);
      // A readiness 503 is expected only while a newly served version loads and warms; its reason is checked at the end.
      if (where === '/health/ready' && res.status() === 503) {
        notReady.push(res.json().then((b: { error?: { code?: string; message?: string } }) => `${b.error?.code}: ${b.error?.message}`, (e: Error) => e.message));
      }
    });
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    const code = await service?.stop();
    if (work) await rm(work, { recursive: true, force: true });
    expect(code).toBe(0);
  }, 60_000);

  const shot = (name: string, fullPage = true) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage });
  const go = async (hash: string) => {
    await page.evaluate((h) => (location.hash = h), hash);
  };
  const useKey = async (key: string, expected: RegExp) => {
    await page.fill('#api-key', key);
    await page.getByRole('button', { name: 'Use key' }).click();
    await page.getByTestId('key-status').filter({ hasText: expected }).waitFor();
  };
  const api = async (p: string) => {
    const res = await fetch(`${service.url}${p}`, { headers: { 'x-api-key': ADMIN_KEY } });
    return (await res.json()) as Record<string, unknown>;
  };

  it(
    'uploads, trains with live curves, promotes, explains a picture, cancels a job and shows a bad zip’s reason',
    async () => {
      // GET / -> /ui/; with API_KEYS set the page asks for a key.
      await page.goto(`${service.url}/`);
      expect(new URL(page.url()).pathname).toBe('/ui/');
      await page.getByTestId('needs-key').waitFor();
      await page.getByTestId('health').getByText('ready').waitFor();
      await shot('01-key-needed', false);

      // A predict key: models are readable; datasets and jobs (admin-only routes) say so.
      await useKey(PREDICT_KEY, /Predict key/);
      await page.getByTestId('no-model').waitFor();
      await go('#/datasets');
      await page.getByTestId('admin-only').filter({ hasText: 'predict role' }).waitFor();
      await shot('02-predict-key');
      await useKey(ADMIN_KEY, /Admin key/);

      // Upload a generated dataset (plus one non-image, skipped with its reason).
      const items = await xrayItems({ NORMAL: 70, PNEUMONIA: 70 }, { size: 64 });
      const datasetZip = path.join(work, 'xrays.zip');
      await writeZip(datasetZip, [...items, { name: 'notes/README.txt', data: Buffer.from('not an image') }]);
      await page.evaluate(() => {
        const w = window as unknown as { phases: string[] };
        w.phases = [];
        new MutationObserver(() => {
          const el = document.querySelector('[data-testid=upload-progress]');
          const phase = el?.getAttribute('data-phase');
          if (phase && w.phases.at(-1) !== phase) w.phases.push(phase);
        }).observe(document.body, { subtree: true, childList: true, attributes: true });
      });
      await page.setInputFiles('#ds-file', datasetZip);
      await page.fill('#ds-name', 'e2e xrays');
      await page.getByRole('button', { name: 'Upload and import' }).click();
      await page.getByTestId('upload-done').filter({ hasText: '140 images' }).waitFor({ timeout: STEP_MS });
      const phases = await page.evaluate(() => (window as unknown as { phases: string[] }).phases);
      expect(phases).toEqual(['sending', 'importing']);
      const detail = page.getByTestId('dataset-detail');
      await detail.getByText('NORMAL 70 · PNEUMONIA 70').waitFor();
      await page.getByTestId('skipped-table').getByText('notes/README.txt').waitFor();
      await page.getByTestId('skipped-table').getByText('NOT_AN_IMAGE').waitFor();
      await shot('03-datasets');

      // Training: an out-of-range value gets the API's own message beside the field.
      await go('#/training');
      await page.locator('#f-datasetId option', { hasText: 'e2e xrays' }).waitFor({ state: 'attached' });
      await page.fill('#f-epochs', '0');
      await expect.poll(() => page.getByTestId('error-epochs').textContent()).toContain('<= 200 (got 0)');
      await page.fill('#f-epochs', '2');
      await page.fill('#f-model-inputSize', '64');
      await page.fill('#f-batchSize', '8');
      await expect.poll(() => page.locator('.field-error').count()).toBe(0);
      await page.evaluate(() => {
        const w = window as unknown as { lossPoints: number[] };
        w.lossPoints = [];
        new MutationObserver(() => {
          const n = Number(document.querySelector('[data-testid=loss-chart]')?.getAttribute('data-points') ?? 0);
          if (n > 0 && w.lossPoints.at(-1) !== n) w.lossPoints.push(n);
        }).observe(document.body, { subtree: true, childList: true, attributes: true });
      });
      await page.getByRole('button', { name: 'Start training' }).click();
      await page.waitForURL(/#\/training\/job_[a-z2-7]{16}$/);
      const firstJob = page.url().split('/').pop()!;
      await page.getByTestId('loss-chart').waitFor({ timeout: STEP_MS });
      await page.getByTestId('job-result').waitFor({ timeout: STEP_MS });
      const lossPoints = await page.evaluate(() => (window as unknown as { lossPoints: number[] }).lossPoints);
      // The curve appeared, then grew as events arrived (not drawn once at the end).
      expect(lossPoints.length, JSON.stringify(lossPoints)).toBeGreaterThanOrEqual(2);
      expect(lossPoints.at(-1)!).toBeGreaterThan(lossPoints[0]!);
      expect(await page.getByTestId('images-per-second').textContent()).toMatch(/^\d+(\.\d)?$/);
      expect(await page.getByTestId('job-result').textContent()).toMatch(/Published chestxraynet v1: test AUC \d\.\d{3}/);
      expect((await api(`/v1/training-jobs/${firstJob}`)).status).toBe('completed');
      await page.locator(`[data-job="${firstJob}"] .badge.status-completed`).waitFor();
      await shot('04-training');

      // The new version's page: metrics, ROC, confusion matrix, curves.
      await page.getByTestId('job-result').getByRole('link', { name: 'chestxraynet v1' }).click();
      await page.getByTestId('version-view').waitFor();
      await page.getByTestId('roc-chart').locator('canvas').waitFor();
      expect(Number(await page.getByTestId('roc-chart').getAttribute('data-points'))).toBeGreaterThan(2);
      await page.getByRole('table', { name: /Test split/ }).waitFor();
      await shot('05-version');

      // Its model card (GET .../card) and external evaluations: none yet, then one started from the page and followed until done.
      const card = (await api('/v1/models/chestxraynet/versions/1/card')) as { intendedUse: { use: string } };
      await expect.poll(() => page.getByTestId('card-use').textContent()).toBe(card.intendedUse.use);
      expect(await page.getByTestId('card-internal').locator('tr', { hasText: 'ROC AUC' }).textContent()).toMatch(/ROC AUC\S*\d\.\d{3}/);
      const evals = page.getByTestId('evaluations');
      await evals.getByTestId('no-evaluations').waitFor();
      await page.locator('#eval-dataset option', { hasText: 'e2e xrays' }).waitFor({ state: 'attached' });
      await page.getByLabel('Dataset', { exact: true }).selectOption((await page.locator('#eval-dataset option', { hasText: 'e2e xrays' }).getAttribute('value'))!);
      await evals.getByRole('button', { name: 'Start evaluation' }).click();
      await evals.locator('tr[data-status="completed"]').waitFor({ timeout: STEP_MS });
      const [evaluation] = (await api('/v1/models/chestxraynet/versions/1/evaluations')).evaluations as {
        status: string;
        result: { metrics: { auc: { value: number; low: number; high: number } } };
      }[];
      expect(evaluation!.status).toBe('completed');
      const auc = evaluation!.result.metrics.auc;
      expect(await evals.getByTestId('evaluation-auc').textContent()).toBe(`${auc.value.toFixed(3)} (${auc.low.toFixed(3)}–${auc.high.toFixed(3)})`);
      await shot('05b-version-card-evaluation');
      await go('#/compare/chestxraynet/1/1');
      await page.getByTestId('compare-view').getByTestId('metrics-table').waitFor();
      await page.getByTestId('compare-roc').locator('canvas').waitFor();

      // Models: v1 listed without an alias; promote it, with a confirmation that says what changes.
      await go('#/models');
      const row = page.locator('[data-testid=versions-table] tr[data-version="1"]');
      await row.waitFor();
      await page.getByText('No production alias').waitFor();
      await row.getByRole('button', { name: 'Promote v1' }).click();
      const dialog = page.getByRole('dialog');
      await expect.poll(() => dialog.getByTestId('promote-text').textContent()).toMatch(/It will point at v1.*gets v1's answers/s);
      await dialog.getByRole('button', { name: 'Promote v1' }).click();
      await page.getByTestId('models-notice').filter({ hasText: 'production now points at v1' }).waitFor();
      await row.locator('.alias-production').waitFor();
      expect(((await api('/v1/models/chestxraynet')).aliases as Record<string, number>).production).toBe(1);
      await shot('06-models');

      // A second version (one epoch), then promoting it: the dialog names both versions and the test-metric deltas.
      await go('#/training');
      await page.locator('#f-datasetId option', { hasText: 'e2e xrays' }).waitFor({ state: 'attached' });
      await page.fill('#f-epochs', '1');
      await page.fill('#f-model-inputSize', '64');
      await page.fill('#f-batchSize', '8');
      await page.getByRole('button', { name: 'Start training' }).click();
      await page.waitForURL((u) => /#\/training\/job_[a-z2-7]{16}$/.test(u.hash) && !u.hash.endsWith(firstJob));
      const v2Job = page.url().split('/').pop()!;
      await page.getByTestId('job-result').filter({ hasText: 'chestxraynet v2' }).waitFor({ timeout: STEP_MS });
      await go('#/models');
      const row2 = page.locator('[data-testid=versions-table] tr[data-version="2"]');
      await row2.getByRole('button', { name: 'Promote v2' }).click();
      await expect.poll(() => dialog.getByTestId('promote-text').textContent()).toMatch(/production moves from v1 to v2\./);
      type Test = Record<'auc' | 'sensitivity' | 'specificity' | 'accuracy', number>;
      const testOf = async (v: number) => ((await api(`/v1/models/chestxraynet/versions/${v}`)).metadata as { metrics: { test: Test } }).metrics.test;
      const [m1, m2] = [await testOf(1), await testOf(2)];
      for (const k of ['auc', 'sensitivity', 'specificity', 'accuracy'] as const) {
        const d = m2[k] - m1[k];
        const want = `${d > 0 ? '+' : d < 0 ? '\u2212' : '±'}${Math.abs(d).toFixed(3)}`;
        expect(await dialog.getByTestId(`delta-${k}`).textContent(), k).toBe(want);
      }
      await shot('06b-promote-deltas', false);
      await dialog.getByRole('button', { name: 'Promote v2' }).click();
      await page.getByTestId('models-notice').filter({ hasText: 'production now points at v2 (was v1)' }).waitFor();
      expect(((await api('/v1/models/chestxraynet')).aliases as Record<string, number>).production).toBe(2);
      // The alias history (GET .../aliases/history) lists both moves, newest first.
      await expect.poll(() => page.getByTestId('alias-history').locator('tbody tr').allTextContents()).toEqual([
        expect.stringMatching(/production.*v1 → v2.*key#1 \(admin\).*no check/),
        expect.stringMatching(/production.*set to v1.*key#1 \(admin\).*no check \(new alias\)/),
      ]);

      // Try it: two pictures get a probability, label, threshold and a heat-map overlay.
      const sick = path.join(work, 'sample-pneumonia.png');
      const well = path.join(work, 'sample-normal.jpeg');
      await writeFile(sick, await xrayFile(9001, true, 320, 'png'));
      await writeFile(well, await xrayFile(9002, false, 320, 'jpeg'));
      // And a DICOM (CR, 256 wide x 320 high), which the browser cannot show: its overlay is the frame itself.
      const dicom = path.join(work, 'sample.dcm');
      await writeFile(dicom, xrayDicom({ width: 256, height: 320, seed: 9003 }).bytes);
      await go('#/try');
      await page.getByTestId('heatmap-note').waitFor();
      await page.setInputFiles('#try-files', [sick, well, dicom]);
      await expect.poll(() => page.getByTestId('probability').count(), { timeout: 60_000 }).toBe(3);
      for (const text of await page.getByTestId('probability').allTextContents()) expect(text).toMatch(/^\d{1,3}\.\d%$/);
      await expect.poll(() => page.getByTestId('overlay').count(), { timeout: 60_000 }).toBe(3);
      const dicomOverlay = page.getByTestId('overlay').nth(2);
      await expect
        .poll(() => dicomOverlay.evaluate((img: HTMLImageElement) => (img.complete ? [img.naturalWidth, img.naturalHeight] : null)))
        .toEqual([256, 320]);
      const overlay = page.getByTestId('overlay').first();
      await expect.poll(() => overlay.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0)).toBe(true);
      const slider = page.getByRole('slider', { name: 'Heat map opacity' }).first();
      await slider.fill('20');
      await expect.poll(() => overlay.evaluate((img: HTMLImageElement) => img.style.opacity)).toBe('0.2');
      await shot('07-try-it');

      // Another, long job, cancelled from the page.
      await go('#/training');
      await page.locator('#f-datasetId option', { hasText: 'e2e xrays' }).waitFor({ state: 'attached' });
      await page.fill('#f-epochs', '150');
      await page.fill('#f-model-inputSize', '64');
      await page.getByRole('button', { name: 'Start training' }).click();
      await page.waitForURL((u) => /#\/training\/job_[a-z2-7]{16}$/.test(u.hash) && !u.hash.endsWith(firstJob) && !u.hash.endsWith(v2Job));
      const secondJob = page.url().split('/').pop()!;
      const monitor = page.getByTestId('job-monitor');
      await monitor.getByRole('button', { name: 'Cancel job' }).waitFor();

      // While that job uses the dataset, deleting it is refused, and the page says why.
      await go('#/datasets');
      await page.locator('[data-testid=datasets-table] tr', { hasText: 'e2e xrays' }).getByRole('button', { name: 'Delete' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Delete dataset' }).click();
      await expect.poll(() => page.getByTestId('delete-error').textContent()).toMatch(/Not deleted: .*queued or running.*cancel it under Training/s);
      await go(`#/training/${secondJob}`);
      await monitor.getByRole('button', { name: 'Cancel job' }).click();
      await page.getByTestId('job-cancelled').waitFor({ timeout: STEP_MS });
      expect(await monitor.getAttribute('data-status')).toBe('cancelled');
      expect((await api(`/v1/training-jobs/${secondJob}`)).status).toBe('cancelled');
      await page.locator(`[data-job="${secondJob}"] .badge.status-cancelled`).waitFor();
      await shot('08-cancelled');

      // A zip with a path escaping the archive is refused, and the page says why.
      const badZip = path.join(work, 'bad.zip');
      await writeFile(badZip, rawZip([{ name: '../escape/NORMAL/a.png', data: await xrayFile(1, false, 32, 'png') }]));
      await go('#/datasets');
      await page.setInputFiles('#ds-file', badZip);
      await page.getByRole('button', { name: 'Upload and import' }).click();
      const refused = page.getByTestId('upload-error');
      await refused.waitFor({ timeout: STEP_MS });
      expect(await refused.textContent()).toMatch(/Upload refused: .*\.\..*\(UNSAFE_ARCHIVE_ENTRY, HTTP 400\)/);
      await shot('09-bad-zip');

      // Narrow screen: nothing wider than the viewport (tables scroll inside their own box).
      await page.setViewportSize({ width: 390, height: 844 });
      for (const [i, view] of ['#/models', '#/training', '#/try', '#/models/chestxraynet/1'].entries()) {
        await go(view);
        await page.waitForTimeout(300);
        await shot(`10-narrow-${i + 1}`);
        const { overflow, culprits } = await page.evaluate(() => {
          const wide = [...document.querySelectorAll('body *')].filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1);
          return {
            overflow: document.documentElement.scrollWidth - window.innerWidth,
            culprits: wide.slice(-5).map((el) => `${el.tagName.toLowerCase()}.${[...el.classList].join('.')}`),
          };
        });
        expect(overflow, `${view} overflows a 390 px screen by ${overflow} px: ${culprits.join(', ')}`).toBeLessThanOrEqual(1);
      }

      expect(consoleErrors).toEqual([]);
      // Every HTTP error the page met was one it meant to meet.
      const expected = [
        /^GET \/v1\/models 401$/, // first visit, no key yet
        /^GET \/v1\/datasets 401$/,
        /^POST \/v1\/training-jobs (403|400)$/, // the role probe: predict key 403, admin key 400 (nothing queued)
        /^POST \/v1\/datasets 400$/, // the bad zip
        /^DELETE \/v1\/datasets\/ds_[a-z2-7]{16} 409$/, // deleting a dataset a job uses
      ];
      expect(failedResponses.filter((r) => !expected.some((e) => e.test(r)) && r !== 'GET /health/ready 503')).toEqual([]);
      // The health bar polls /health/ready; after v1 is promoted, and v2 published and promoted, the API loads and warms
      // the version it now serves, and readiness answers 503 MODEL_NOT_READY meanwhile (never a failed load or Redis).
      for (const reason of await Promise.all(notReady)) expect(reason).toMatch(/^MODEL_NOT_READY: the default model 'chestxraynet' v[12] is still loading$/);
    },
    900_000,
  );
});
