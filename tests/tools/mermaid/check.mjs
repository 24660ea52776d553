#!/usr/bin/env node
// Validates Mermaid diagrams with the real Mermaid library, rendered in
// Debian's headless Chromium (installed by `.ci/mermaid-setup`):
//
//   node tests/tools/mermaid/check.mjs FILE.mmd [FILE.mmd ...]
//
// One browser for all files; every file goes through `mermaid.parse` and
// `mermaid.render`, and the rendered SVG must not be Mermaid's error
// picture. Prints `ok FILE` or `error FILE: <Mermaid's message>` per file.
// Exit status: 0 all ok, 1 some file failed, 2 usage or setup error.
//
// MIGRATION_CHECK_MERMAID_TOOLS  the npm packages
//                                (default ~/.cache/migration-check/mermaid-tools)
// MIGRATION_CHECK_CHROMIUM       the browser (default /usr/bin/chromium)
// The page is offline: every request it makes is refused.
import { createRequire } from 'node:module';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

const SETUP_HINT = 'run `bash .ci/mermaid-setup` first';
const RENDER_TIMEOUT_MS = 30_000;

function usageError(message) {
  console.error(`check.mjs: ${message}`);
  process.exit(2);
}
class SetupError extends Error {}

const files = process.argv.slice(2);
if (files.length === 0 || files.some((f) => f === '-h' || f === '--help')) {
  usageError('usage: node tests/tools/mermaid/check.mjs FILE.mmd [FILE.mmd ...]');
}
const sources = files.map((file) => {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    return usageError(`cannot read ${file}: ${e.message}`);
  }
});

const toolsDir =
  process.env.MIGRATION_CHECK_MERMAID_TOOLS ||
  join(homedir(), '.cache', 'migration-check', 'mermaid-tools');
const chromium = process.env.MIGRATION_CHECK_CHROMIUM || '/usr/bin/chromium';
const requireTool = createRequire(join(toolsDir, 'package.json'));
let puppeteer, mermaidJs;
try {
  puppeteer = requireTool('puppeteer-core');
  mermaidJs = requireTool.resolve('mermaid/dist/mermaid.min.js');
} catch (e) {
  usageError(`puppeteer-core or mermaid missing in ${toolsDir} (${e.code || e.message}): ${SETUP_HINT}`);
}
try {
  accessSync(chromium, constants.X_OK);
} catch {
  usageError(`no executable chromium at ${chromium}: ${SETUP_HINT}`);
}

const profile = mkdtempSync(join(tmpdir(), 'mermaid-check-'));
let browser;
let launching;
let cleanup;
let interrupted = false;
// Closes the browser and removes its profile, once, whoever asks first.
function cleanUp() {
  cleanup ??= (async () => {
    // Interrupted while Chromium starts: let it start, then close it.
    const open = browser ?? (await launching?.catch(() => null));
    if (open) await open.close().catch(() => open.process()?.kill('SIGKILL'));
    rmSync(profile, { recursive: true, force: true, maxRetries: 5 });
  })();
  return cleanup;
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    interrupted = true;
    console.error(`check.mjs: interrupted by ${signal}`);
    cleanUp().finally(() => process.exit(2));
  });
}

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${RENDER_TIMEOUT_MS} ms`)), RENDER_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

let status = 0;
try {
  try {
    launching = puppeteer.launch({
      executablePath: chromium,
      headless: true,
      userDataDir: profile,
      // Chromium's own scratch files (its singleton socket, shared memory)
      // go under the profile too, so removing it leaves nothing behind.
      env: { ...process.env, TMPDIR: profile },
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
      // --no-sandbox: Chromium refuses to run as root with its sandbox;
      // the pages only ever hold our own diagrams.
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
    });
    browser = await launching;
  } catch (e) {
    throw new SetupError(`cannot start ${chromium}: ${e.message.split('\n')[0]}: ${SETUP_HINT}`);
  }
  // A blank page holding Mermaid, offline: every request it makes fails.
  async function mermaidPage() {
    const page = await browser.newPage();
    await page.setRequestInterception(true);
    page.on('request', (request) => {
      if (/^(about|data|blob):/.test(request.url())) request.continue();
      else request.abort();
    });
    await page.setContent('<!doctype html><html><head><meta charset="utf-8"></head><body></body></html>');
    await page.addScriptTag({ path: mermaidJs });
    await page.evaluate(() => {
      window.mermaid.initialize({ startOnLoad: false, securityLevel: 'strict', theme: 'default' });
    });
    return page;
  }
  let page = await mermaidPage();

  for (const [index, file] of files.entries()) {
    let result;
    try {
      result = await withTimeout(
        page.evaluate(async (text, id) => {
          const mermaid = window.mermaid;
          try {
            await mermaid.parse(text);
            const { svg } = await mermaid.render(id, text);
            // Mermaid's error picture, should render() draw one instead of throwing.
            if (/aria-roledescription="error"|class="error-icon"|>Syntax error in text</.test(svg)) {
              const texts = new DOMParser().parseFromString(svg, 'image/svg+xml').querySelectorAll('text');
              const message = Array.from(texts, (t) => t.textContent.trim()).filter(Boolean).join(' ');
              return { ok: false, message: `rendered an error picture: ${message}` };
            }
            return { ok: true };
          } catch (e) {
            return { ok: false, message: String(e?.message ?? e?.str ?? e) };
          } finally {
            // render() leaves its scratch element behind when it throws.
            document.getElementById(id)?.remove();
            document.getElementById(`d${id}`)?.remove();
            document.body.replaceChildren();
          }
        }, sources[index], `mermaid-check-${index}`),
        'rendering',
      );
    } catch (e) {
      result = { ok: false, message: e.message };
      if (interrupted) break;
      // A page stuck in a runaway render is of no use for the next file.
      await page.close().catch(() => {});
      page = await mermaidPage();
    }
    if (interrupted) break;
    if (result.ok) {
      console.log(`ok ${file}`);
    } else {
      console.log(`error ${file}: ${result.message.replace(/\s*\n\s*/g, ' | ').trim()}`);
      status = 1;
    }
  }
} catch (e) {
  if (!interrupted) console.error(`check.mjs: ${e instanceof SetupError ? e.message : e.stack || e}`);
  status = 2;
} finally {
  await cleanUp();
}
process.exit(interrupted ? 2 : status);
