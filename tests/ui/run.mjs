// Browser tests of the web UI, in headless Chromium driven by playwright-core.
// Started by tests/tests/ui.rs, which runs a real binyard and passes, in the
// environment: BASE (server URL), SHOTS (screenshot folder), FILES (a folder with
// echo_v1.wasm, echo_v2.wasm), HOOK_URL (a webhook receiver), READER and
// READER_PASSWORD, SEARCH ("1" when the quick searches exist), CHROMIUM.
// Each step logs its name; the first failure exits non-zero with the step's name.

import { chromium } from 'playwright-core';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';

const env = (k) => {
  const v = process.env[k];
  if (v === undefined) throw new Error(`${k} is not set`);
  return v;
};
const BASE = env('BASE');
const SHOTS = env('SHOTS');
const FILES = env('FILES');
mkdirSync(SHOTS, { recursive: true });

const profile = mkdtempSync(join(tmpdir(), 'binyard-ui-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
ctx.setDefaultTimeout(15000);
const page = ctx.pages()[0] || (await ctx.newPage());
const consoleErrors = [];
page.on('pageerror', (e) => consoleErrors.push(String(e)));

let current = '';
async function step(name, fn) {
  current = name;
  const t = Date.now();
  await fn();
  console.log(`ok   ${name} (${Date.now() - t} ms)`);
}
async function shot(name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}
async function expectText(selector, text) {
  await page.locator(selector).filter({ hasText: text }).first().waitFor();
}
// Opens a page afresh (a same-hash goto would keep the page as it is).
const go = async (hash) => {
  const url = `${BASE}/ui/${hash}`;
  if (page.url() === url) await page.reload();
  else await page.goto(url);
  await page.waitForLoadState('networkidle');
};
// The plugin's version as its row shows it (waiting for the row a little). The
// test server runs without the folder watcher: a rescan racing an install can unload
// the new plugin for a moment (seen while writing this test; a registry matter).
async function pluginVersion(name) {
  for (let i = 0; ; i++) {
    const row = page.locator('tr', { hasText: name }).locator('.plugin-version');
    if (await row.count()) return (await row.textContent()).trim();
    if (i > 40) throw new Error(`plugin ${name} is not listed`);
    await page.waitForTimeout(250);
    await go('#/admin/plugins');
  }
}
async function login(user, password) {
  await go('#/login');
  await page.fill('#username', user);
  await page.fill('#password', password);
  await page.click('#login-form button[type=submit]');
  await page.locator('#logout').waitFor();
}

try {
  await step('/ redirects to the UI and asks to log in', async () => {
    await page.goto(`${BASE}/`);
    await page.locator('#login-form').waitFor();
    if (!page.url().startsWith(`${BASE}/ui/`)) throw new Error(`landed on ${page.url()}`);
    await shot('login');
  });

  await step('a wrong password is refused', async () => {
    await page.fill('#username', 'admin');
    await page.fill('#password', 'not-the-password');
    await page.click('#login-form button[type=submit]');
    await expectText('.error', 'Bad credentials');
  });

  await step('log in as admin', async () => {
    await login('admin', 'password');
    await expectText('#who', 'admin');
    await page.locator('.repo-link', { hasText: 'team-docs' }).waitFor();
    await shot('repositories');
  });

  await step('the session cookie is HttpOnly and SameSite', async () => {
    const c = (await ctx.cookies()).find((x) => x.name === 'binyard_session');
    if (!c) throw new Error('no session cookie');
    if (!c.httpOnly || c.sameSite !== 'Strict') throw new Error(`cookie ${JSON.stringify(c)}`);
    const seen = await page.evaluate(() => document.cookie);
    if (seen.includes('binyard_session')) throw new Error('scripts can read the session cookie');
  });

  await step('CSRF: a call with the cookie but without the token is refused', async () => {
    const r = await page.evaluate(async () => {
      const res = await fetch('/artifactory/api/repositories/csrf-made', {
        method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ rclass: 'local', packageType: 'generic' }),
      });
      const list = await (await fetch('/artifactory/api/repositories')).json();
      return { status: res.status, body: await res.text(), made: list.some((x) => x.key === 'csrf-made') };
    });
    if (r.status !== 403 || !r.body.includes('CSRF')) throw new Error(`answered ${r.status}: ${r.body}`);
    if (r.made) throw new Error('the repository was created anyway');
  });

  await step('create a local repository', async () => {
    await go('#/admin/repos/new');
    await page.fill('#f-key', 'ui-local');
    await page.selectOption('#f-rclass', 'local');
    await page.selectOption('#f-packageType', 'generic');
    await page.fill('#f-description', 'made in the browser');
    await shot('admin-new-repository');
    await page.click('#repo-form button[type=submit]');
    await page.locator('#admin-tabs').waitFor();
    await page.locator('a', { hasText: 'ui-local' }).first().waitFor();
  });

  await step('create a remote repository', async () => {
    await go('#/admin/repos/new');
    await page.fill('#f-key', 'ui-remote');
    await page.selectOption('#f-rclass', 'remote');
    await page.selectOption('#f-packageType', 'generic');
    await page.fill('#f-url', 'https://upstream.example/files/');
    await page.click('#repo-form button[type=submit]');
    await page.locator('a', { hasText: 'ui-remote' }).first().waitFor();
    await go('#/admin/repos');
    await expectText('tr', 'REMOTE');
    await shot('admin-repositories');
  });

  await step('upload a file through the UI and see it in the tree', async () => {
    await go('#/tree/ui-local');
    await page.setInputFiles('#upload-file', { name: 'hello-ui.txt', mimeType: 'text/plain', buffer: Buffer.from('hello from the browser\n') });
    await page.fill('#upload-name', 'docs/hello-ui.txt');
    await page.click('#upload-form button[type=submit]');
    await page.locator('#sha256').waitFor();
    const sha = (await page.textContent('#sha256')).trim();
    const want = createHash('sha256').update('hello from the browser\n').digest('hex');
    if (sha !== want) throw new Error(`sha256 ${sha}, not ${want}`);
    await go('#/tree/ui-local/docs');
    await page.locator('#tree a.file', { hasText: 'hello-ui.txt' }).waitFor();
    await shot('tree');
  });

  await step('edit a property', async () => {
    await go('#/artifact/ui-local/docs/hello-ui.txt');
    await page.fill('#prop-key', 'team');
    await page.fill('#prop-value', 'blue');
    await page.click('#prop-form button[type=submit]');
    await expectText('td.prop-value', 'blue');
    await expectText('#usage', 'curl -O');
    await shot('artifact');
  });

  await step('find it by search', async () => {
    if (process.env.SEARCH !== '1') {
      console.log('note the quick searches are not in this build (issue 19): only the pages are checked');
      await go('#/search/aql');
      await page.locator('#search-aql').waitFor();
      return;
    }
    await go('#/search/name');
    await page.fill('#search-name', 'hello-ui.txt');
    await page.click('#search-form button[type=submit]');
    await page.locator('#results a.result', { hasText: 'ui-local/docs/hello-ui.txt' }).waitFor();
    await go('#/search/property');
    await page.fill('#search-key', 'team');
    await page.fill('#search-value', 'blue');
    await page.click('#search-form button[type=submit]');
    await page.locator('#results a.result', { hasText: 'hello-ui.txt' }).waitFor();
    await shot('search');
  });

  await step('open a build, a run and its diff', async () => {
    await go('#/builds');
    await page.click('a.build:text("ui-app")');
    await page.click('a.run:text-is("2")');
    await page.locator('section.module').first().waitFor();
    await expectText('section.module', 'app-2.jar');
    await expectText('#promotion', 'not promoted');
    await shot('build-run');
    await page.selectOption('#diff-with', '1');
    await page.click('#diff-form button[type=submit]');
    await page.locator('#diff-title').waitFor();
    await expectText('tr', 'app-2.jar');
    await expectText('tr', 'removed');
    await shot('build-diff');
  });

  await step('install and hot-swap a plugin from its page', async () => {
    await go('#/admin/plugins');
    await page.fill('#f-name', 'ui-echo');
    await page.setInputFiles('#plugin-file', join(FILES, 'echo_v1.wasm'));
    await page.click('#plugin-form button[type=submit]');
    await expectText('#plugin-installed', 'Installed ui-echo');
    const v1 = await pluginVersion('ui-echo');
    await page.fill('#f-name', 'ui-echo');
    await page.setInputFiles('#plugin-file', join(FILES, 'echo_v2.wasm'));
    await page.click('#plugin-form button[type=submit]');
    await expectText('#plugin-installed', 'Replaced ui-echo');
    const v2 = await pluginVersion('ui-echo');
    if (v1 === v2) throw new Error(`the version stayed ${v1}`);
    console.log(`     ui-echo ${v1} -> ${v2}`);
    await shot('admin-plugins');
  });

  await step('create a token, shown once', async () => {
    await go('#/admin/tokens');
    await page.fill('#f-username', env('READER'));
    await page.fill('#f-description', 'from the UI');
    await page.click('#token-form button[type=submit]');
    const token = (await page.locator('#new-token').textContent()).trim();
    if (token.split('.').length !== 3) throw new Error(`not a token: ${token}`);
    writeFileSync(join(SHOTS, '..', 'ui-token.txt'), token);
    await go('#/admin/tokens');
    if (await page.locator('#new-token').count()) throw new Error('the token is shown again');
    await expectText('tr', 'from the UI');
  });

  await step('see a webhook delivery', async () => {
    await go('#/admin/webhooks');
    await page.fill('#f-key', 'ui-hook');
    await page.fill('#f-url', env('HOOK_URL'));
    await page.fill('#f-events', 'deployed');
    await page.fill('#f-repos', 'ui-local');
    await page.click('#webhook-form button[type=submit]');
    await page.locator('#webhook-test').waitFor();
    // A deploy through the UI makes an event.
    await go('#/tree/ui-local');
    await page.setInputFiles('#upload-file', { name: 'second.txt', mimeType: 'text/plain', buffer: Buffer.from('second\n') });
    await page.click('#upload-form button[type=submit]');
    await page.locator('#sha256').waitFor();
    for (let i = 0; ; i++) {
      await go('#/admin/webhooks/ui-hook');
      if (await page.locator('.badge.delivery', { hasText: 'delivered' }).count()) break;
      if (i > 40) throw new Error('no delivery in the log');
      await page.waitForTimeout(250);
    }
    await shot('admin-webhook');
  });

  await step('retention dry run shows each decision and its reason', async () => {
    await go('#/admin/retention');
    await page.click('tr:has-text("ui-keep") button.dry-run');
    await expectText('#retention-report', 'Dry run of ui-keep');
    await expectText('#retention-report td', 'keep');
    await shot('admin-retention');
  });

  await step('storage summary and garbage collection', async () => {
    await go('#/admin/storage');
    await page.click('#run-gc');
    await expectText('#gc-result', 'Garbage collection');
    await shot('admin-storage');
  });

  await step('the pages fit a phone', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await go('#/');
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    if (wide > 400) throw new Error(`the page is ${wide}px wide at 390px`);
    await page.click('#menu-toggle');
    await page.locator('#nav.open').waitFor();
    await shot('phone-repositories');
    await go('#/artifact/ui-local/docs/hello-ui.txt');
    await shot('phone-artifact');
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  await step('log out', async () => {
    await page.click('#logout');
    await page.locator('#login-form').waitFor();
    const r = await page.evaluate(async () => (await fetch('/ui/api/session')).json());
    if (r.user) throw new Error(`still logged in as ${r.user}`);
  });

  await step('a reader sees neither admin pages nor repositories they may not read', async () => {
    await login(env('READER'), env('READER_PASSWORD'));
    await page.locator('.repo-link', { hasText: 'team-docs' }).waitFor();
    if (await page.locator('.repo-link', { hasText: 'secret-stuff' }).count()) throw new Error('the reader sees secret-stuff');
    if (await page.locator('#nav a', { hasText: 'Administration' }).count()) throw new Error('the reader sees Administration');
    await shot('reader-repositories');
    await go('#/admin/users');
    await expectText('.error', 'Administrator privileges are required');
    await go('#/tree/secret-stuff');
    await page.locator('.error').waitFor();
    if (await page.locator('#tree').count()) throw new Error('the reader sees the tree of secret-stuff');
  });

  if (consoleErrors.length) throw new Error(`script errors in the page: ${consoleErrors.join('; ')}`);
  console.log('all UI steps passed');
  await ctx.close();
  rmSync(profile, { recursive: true, force: true });
} catch (e) {
  console.error(`FAILED ${current}: ${e && e.stack ? e.stack : e}`);
  try { await shot(`failed-${current.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}`); } catch { /* the browser may be gone */ }
  await ctx.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
  process.exit(1);
}
