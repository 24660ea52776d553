// What check.mjs and render.mjs share. Both drive the real Mermaid library in
// Debian's headless Chromium through puppeteer-core (installed by
// `.ci/mermaid-setup`). This module holds everything that is not particular
// to one of them, so that the two tools agree on it:
//
// - usage and setup errors: `NAME: message` on stderr, exit status 2, and the
//   "run `bash .ci/mermaid-setup` first" hint when something is missing;
// - where the tools are: the npm packages in MIGRATION_CHECK_MERMAID_TOOLS
//   (default ~/.cache/migration-check/mermaid-tools), loaded with
//   createRequire, and the browser in MIGRATION_CHECK_CHROMIUM (default
//   /usr/bin/chromium);
// - the browser's life: a temporary profile, the launch options, and a
//   clean-up that closes the browser and removes the profile once, whether
//   the run ends, fails, times out or is interrupted by SIGINT, SIGTERM or
//   SIGHUP (exit status 2 then), so that nothing is left in the temporary
//   directory;
// - the offline page: every request it makes is refused; it holds Mermaid
//   (strict security, default theme) and the two in-page helpers both tools
//   need, the test for Mermaid's error picture and the removal of the
//   scratch elements a failed render leaves behind;
// - withTimeout, for a promise that might never settle.
import { createRequire } from 'node:module';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

export const SETUP_HINT = 'run `bash .ci/mermaid-setup` first';

class SetupError extends Error {}

// Rejects with `WHAT timed out after MS ms` when the promise takes longer.
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// A blank page in `browser` holding Mermaid, offline: every request it makes
// fails (`onRefused` hears of each). `setUp` runs on the new page first;
// `html` is its content, then come the `styles` (addStyleTag options), the
// `scripts` (paths) and Mermaid. In the page, besides `mermaid`:
// `mermaidTools.isErrorPicture(svg)` and `mermaidTools.removeScratch(id)`.
async function mermaidPage(browser, mermaidJs, { setUp, html, styles = [], scripts = [], onRefused } = {}) {
  const page = await browser.newPage();
  await setUp?.(page);
  await page.setRequestInterception(true);
  page.on('request', (request) => {
    const url = request.url();
    if (/^(about|data|blob):/.test(url)) return request.continue();
    onRefused?.(url);
    return request.abort();
  });
  await page.setContent(html ?? '<!doctype html><html><head><meta charset="utf-8"></head><body></body></html>');
  for (const style of styles) await page.addStyleTag(style);
  for (const path of [...scripts, mermaidJs]) await page.addScriptTag({ path });
  await page.evaluate(() => {
    window.mermaid.initialize({ startOnLoad: false, securityLevel: 'strict', theme: 'default' });
    window.mermaidTools = {
      // Mermaid's error picture, should render() draw one instead of throwing.
      isErrorPicture: (svg) => /aria-roledescription="error"|class="error-icon"|>Syntax error in text</.test(svg),
      // render() leaves its scratch elements behind when it throws.
      removeScratch(id) {
        document.getElementById(id)?.remove();
        document.getElementById(`d${id}`)?.remove();
      },
    };
  });
  return page;
}

// The helpers of the script called `name` (`check.mjs`), which its messages
// start with.
export function mermaidScript(name) {
  // A usage or setup error: the message on stderr, exit status 2.
  function usageError(message) {
    console.error(`${name}: ${message}`);
    process.exit(2);
  }

  // Finds puppeteer-core, Mermaid's browser bundle and the chromium to run,
  // plus what `more(requireTool)` loads from the same packages. When a
  // package is missing the usage error says `${missing} missing in DIR`.
  async function findTools(missing, more = () => ({})) {
    const toolsDir =
      process.env.MIGRATION_CHECK_MERMAID_TOOLS ||
      join(homedir(), '.cache', 'migration-check', 'mermaid-tools');
    const chromium = process.env.MIGRATION_CHECK_CHROMIUM || '/usr/bin/chromium';
    const requireTool = createRequire(join(toolsDir, 'package.json'));
    let tools;
    try {
      tools = {
        puppeteer: requireTool('puppeteer-core'),
        mermaidJs: requireTool.resolve('mermaid/dist/mermaid.min.js'),
        ...(await more(requireTool)),
      };
    } catch (e) {
      usageError(`${missing} missing in ${toolsDir} (${e.code || e.message}): ${SETUP_HINT}`);
    }
    try {
      accessSync(chromium, constants.X_OK);
    } catch {
      usageError(`no executable chromium at ${chromium}: ${SETUP_HINT}`);
    }
    return { ...tools, chromium };
  }

  // Starts the browser with a fresh profile in the temporary directory named
  // `${profilePrefix}XXXXXX` and `extraArgs` on its command line, awaits
  // `body(session)` for the exit status, then cleans up and exits with it:
  // 2 instead when the browser does not start, `body` throws or a signal
  // interrupts. `session.mermaidPage(options)` opens a page (see above);
  // `session.interrupted` tells a long `body` to stop.
  async function runInBrowser({ puppeteer, chromium, mermaidJs }, { profilePrefix, extraArgs = [] }, body) {
    let browser;
    let launching;
    let cleanup;
    let interrupted = false;
    // The handlers go in before the profile is made, so that no signal can
    // end the process between the two and leave the profile behind. A
    // handler runs only once this function awaits, when the profile is there.
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
      process.on(signal, () => {
        interrupted = true;
        console.error(`${name}: interrupted by ${signal}`);
        cleanUp().finally(() => process.exit(2));
      });
    }
    const profile = mkdtempSync(join(tmpdir(), profilePrefix));
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
    const session = {
      get interrupted() {
        return interrupted;
      },
      mermaidPage: (options) => mermaidPage(browser, mermaidJs, options),
    };

    let status;
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
          // the pages only hold our own diagrams, and render.mjs removes the
          // scripts from the Markdown before it reaches the page.
          args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', ...extraArgs],
        });
        browser = await launching;
      } catch (e) {
        throw new SetupError(`cannot start ${chromium}: ${e.message.split('\n')[0]}: ${SETUP_HINT}`);
      }
      status = await body(session);
    } catch (e) {
      if (!interrupted) console.error(`${name}: ${e instanceof SetupError ? e.message : e.stack || e}`);
      status = 2;
    } finally {
      await cleanUp();
    }
    process.exit(interrupted ? 2 : status);
  }

  return { usageError, findTools, runInBrowser };
}
