#!/usr/bin/env node
// Validates Mermaid diagrams with the real Mermaid library, rendered in
// Debian's headless Chromium (installed by `.ci/mermaid-setup`):
//
//   node tests/tools/mermaid/check.mjs FILE.mmd [FILE.mmd ...]
//
// One browser for all files; every file goes through `mermaid.parse` and
// `mermaid.render`, and the rendered SVG must not be Mermaid's error
// picture. Prints `ok FILE` or `error FILE: <Mermaid's message>` per file.
// Exit status: 0 all ok, 1 some file failed, 2 usage or setup error, or
// interrupted by a signal.
//
// MIGRATION_CHECK_MERMAID_TOOLS  the npm packages
//                                (default ~/.cache/migration-check/mermaid-tools)
// MIGRATION_CHECK_CHROMIUM       the browser (default /usr/bin/chromium)
// The page is offline: every request it makes is refused. Finding the tools,
// the browser's launch and clean-up, and the offline page are in browser.mjs,
// shared with render.mjs.
import { readFileSync } from 'node:fs';
import { mermaidScript, withTimeout } from './browser.mjs';

const RENDER_TIMEOUT_MS = 30_000;
const { usageError, findTools, runInBrowser } = mermaidScript('check.mjs');

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

const tools = await findTools('puppeteer-core or mermaid');

await runInBrowser(tools, { profilePrefix: 'mermaid-check-' }, async (session) => {
  let status = 0;
  let page = await session.mermaidPage();
  for (const [index, file] of files.entries()) {
    let result;
    try {
      result = await withTimeout(
        page.evaluate(async (text, id) => {
          const { mermaid, mermaidTools } = window;
          try {
            await mermaid.parse(text);
            const { svg } = await mermaid.render(id, text);
            if (mermaidTools.isErrorPicture(svg)) {
              const texts = new DOMParser().parseFromString(svg, 'image/svg+xml').querySelectorAll('text');
              const message = Array.from(texts, (t) => t.textContent.trim()).filter(Boolean).join(' ');
              return { ok: false, message: `rendered an error picture: ${message}` };
            }
            return { ok: true };
          } catch (e) {
            return { ok: false, message: String(e?.message ?? e?.str ?? e) };
          } finally {
            mermaidTools.removeScratch(id);
            document.body.replaceChildren();
          }
        }, sources[index], `mermaid-check-${index}`),
        RENDER_TIMEOUT_MS,
        'rendering',
      );
    } catch (e) {
      result = { ok: false, message: e.message };
      if (session.interrupted) break;
      // A page stuck in a runaway render is of no use for the next file.
      await page.close().catch(() => {});
      page = await session.mermaidPage();
    }
    if (session.interrupted) break;
    if (result.ok) {
      console.log(`ok ${file}`);
    } else {
      console.log(`error ${file}: ${result.message.replace(/\s*\n\s*/g, ' | ').trim()}`);
      status = 1;
    }
  }
  return status;
});
