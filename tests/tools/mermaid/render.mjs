#!/usr/bin/env node
// Renders a Markdown file the way GitHub shows it as a pull-request comment
// and writes a PNG of it, to look at what the tool posts:
//
//   node tests/tools/mermaid/render.mjs IN.md OUT.png [--width 900]
//
// GitHub-flavoured Markdown (marked, with GitHub's line breaks in comments),
// GitHub's light stylesheet (github-markdown-css), raw HTML sanitised like
// GitHub does (no scripts, no style or class attributes), every <details>
// opened so the picture shows its content, ```diff blocks coloured like
// GitHub's, and ```mermaid blocks drawn by Mermaid. `--width` is the CSS
// width of the page (the comment box fills it less a 16px margin); the PNG
// is taken at device scale factor 2.
// Exit status: 0 written, 1 written but a Mermaid block failed (shown in
// the picture as GitHub shows it, and reported), 2 usage or setup error, or
// interrupted by a signal.
//
// Environment as for check.mjs: MIGRATION_CHECK_MERMAID_TOOLS,
// MIGRATION_CHECK_CHROMIUM. The page is offline: remote images stay blank.
// Finding the tools, the browser's launch and clean-up, and the offline page
// are in browser.mjs, shared with check.mjs.
import { accessSync, constants, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { mermaidScript } from './browser.mjs';

const USAGE = 'usage: node tests/tools/mermaid/render.mjs IN.md OUT.png [--width 900]';
const TIMEOUT_MS = 60_000;
const { usageError, findTools, runInBrowser } = mermaidScript('render.mjs');

const positional = [];
let width = 900;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const arg = argv[i];
  if (arg === '-h' || arg === '--help') usageError(USAGE);
  if (arg === '--width' || arg.startsWith('--width=')) {
    const value = arg === '--width' ? argv[++i] : arg.slice('--width='.length);
    width = Number(value);
    if (!Number.isInteger(width) || width < 200 || width > 4000) {
      usageError(`--width wants a whole number of CSS pixels from 200 to 4000, not ${value}`);
    }
  } else if (arg.startsWith('-') && arg !== '-') {
    usageError(`unknown option ${arg}\n${USAGE}`);
  } else {
    positional.push(arg);
  }
}
if (positional.length !== 2) usageError(USAGE);
const [input, output] = positional;
let markdown;
try {
  markdown = readFileSync(input === '-' ? 0 : input, 'utf8');
} catch (e) {
  usageError(`cannot read ${input}: ${e.message}`);
}

try {
  accessSync(dirname(resolve(output)), constants.W_OK);
} catch {
  usageError(`cannot write ${output}: no writable directory ${dirname(resolve(output))}`);
}

const tools = await findTools('a package is', async (requireTool) => ({
  Marked: (await import(pathToFileURL(requireTool.resolve('marked')).href)).Marked,
  purifyJs: requireTool.resolve('dompurify/dist/purify.min.js'),
  githubCss: requireTool.resolve('github-markdown-css/github-markdown-light.css'),
}));

// Markdown to HTML. Fenced code keeps its language in a data attribute so
// the page can colour diffs and draw diagrams after sanitising.
const escapeHtml = (s) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const marked = new tools.Marked({ gfm: true, breaks: true });
marked.use({
  renderer: {
    code({ text, lang }) {
      const language = (lang || '').trim().split(/\s+/)[0].toLowerCase();
      return `<pre data-lang="${escapeHtml(language)}"><code>${escapeHtml(text)}\n</code></pre>\n`;
    },
  },
});
const html = marked.parse(markdown);

// GitHub's comment box around the Markdown, and what github-markdown-css
// leaves to GitHub's page styles: 14px comment text, diff colours, the
// Mermaid container and its error box.
const PAGE_CSS = `
  html, body { margin: 0; background: #ffffff; }
  body { padding: 16px; }
  .timeline-comment { border: 1px solid #d1d9e0; border-radius: 6px; background: #ffffff; }
  .timeline-comment-header {
    display: flex; align-items: center; gap: 4px; padding: 0 16px; min-height: 40px;
    background: #f6f8fa; border-bottom: 1px solid #d1d9e0; border-radius: 6px 6px 0 0;
    color: #59636e; font: 14px/1.5 -apple-system, BlinkMacSystemFont, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif;
  }
  .timeline-comment-header strong { color: #1f2328; font-weight: 600; }
  .timeline-comment-header .Label {
    display: inline-block; padding: 0 7px; font-size: 12px; font-weight: 500; line-height: 18px;
    border: 1px solid #d1d9e0; border-radius: 2em; color: #59636e;
  }
  .comment-body { padding: 16px; border-radius: 0 0 6px 6px; }
  .markdown-body { font-size: 14px; }
  .markdown-body .pl-mi1 { color: #116329; background-color: #dafbe1; }
  .markdown-body .pl-md { color: #82071e; background-color: #ffebe9; }
  .markdown-body .pl-mc { color: #953800; background-color: #ffd8b5; }
  .markdown-body .pl-mdr { color: #8250df; font-weight: bold; }
  .markdown-body .pl-mh { color: #0550ae; font-weight: bold; }
  .markdown-body .mermaid-diagram { margin: 0 0 16px; text-align: center; overflow: auto; }
  .markdown-body .mermaid-diagram svg { max-width: 100%; height: auto; }
  .markdown-body .render-error {
    margin: 0 0 16px; padding: 16px; border: 1px solid #ff818266; border-radius: 6px;
    background: #ffebe9; color: #1f2328;
  }
  .markdown-body .render-error pre { margin: 8px 0 0; background: transparent; padding: 0; }
`;

await runInBrowser(tools, { profilePrefix: 'mermaid-render-', extraArgs: ['--font-render-hinting=none'] }, async (session) => {
  const page = await session.mermaidPage({
    setUp: async (page) => {
      page.setDefaultTimeout(TIMEOUT_MS);
      // A short viewport, so that the full-page picture ends where the comment does.
      await page.setViewport({ width, height: 100, deviceScaleFactor: 2 });
    },
    html:
      '<!doctype html><html lang="en"><head><meta charset="utf-8"></head><body>' +
      '<div class="timeline-comment"><div class="timeline-comment-header">' +
      '<strong>github-actions</strong><span class="Label">bot</span><span>commented</span></div>' +
      '<div class="comment-body markdown-body"></div></div></body></html>',
    styles: [{ path: tools.githubCss }, { content: PAGE_CSS }],
    scripts: [tools.purifyJs],
    onRefused: (url) => console.error(`render.mjs: offline, not loaded: ${url}`),
  });

  const failures = await page.evaluate(async (html) => {
    const body = document.querySelector('.comment-body');
    // GitHub's sanitiser drops scripts, event handlers, style and class
    // attributes; DOMPurify's defaults plus those two come close.
    body.innerHTML = window.DOMPurify.sanitize(html, { FORBID_ATTR: ['style', 'class', 'id'] });
    body.querySelectorAll('details').forEach((d) => d.setAttribute('open', ''));
    // GitHub's task lists: no bullets, checkbox in the margin.
    body.querySelectorAll('li > input[type="checkbox"]:first-child').forEach((box) => {
      box.classList.add('task-list-item-checkbox');
      box.parentElement.classList.add('task-list-item');
      box.parentElement.parentElement.classList.add('contains-task-list');
    });

    const span = (cls, text) => {
      const s = document.createElement('span');
      s.className = cls;
      s.textContent = text;
      return s;
    };
    // The TextMate diff grammar GitHub highlights ```diff with.
    const diffClass = (line) => {
      if (/^(\*{15}|={67}|-{3})$/.test(line)) return 'pl-mh';
      if (/^@@/.test(line) || /^\d+(,\d+)*[adc]\d+(,\d+)*$/.test(line)) return 'pl-mdr';
      if (/^(-{3} .+ -{4}|\*{3} .+ \*{4})$/.test(line)) return 'pl-mdr';
      if (/^diff /.test(line) || /^(-{3}|\*{3}|\+{3}) .+/.test(line) || /^Index: /.test(line)) return 'pl-mh';
      if (/^(>( .*)?|\+.*)$/.test(line)) return 'pl-mi1';
      if (/^!/.test(line)) return 'pl-mc';
      if (/^(<( .*)?|-.*)$/.test(line)) return 'pl-md';
      return null;
    };

    const failures = [];
    let n = 0;
    for (const pre of body.querySelectorAll('pre')) {
      const lang = pre.dataset.lang || '';
      pre.removeAttribute('data-lang');
      const source = pre.textContent.replace(/\n$/, '');
      if (lang === 'mermaid') {
        const id = `mermaid-${n++}`;
        const box = document.createElement('div');
        try {
          const { svg } = await mermaid.render(id, source);
          if (mermaidTools.isErrorPicture(svg)) {
            throw new Error('Mermaid drew its error picture');
          }
          box.className = 'mermaid-diagram';
          box.innerHTML = svg;
        } catch (e) {
          const message = String(e?.message ?? e);
          failures.push(`mermaid block ${n}: ${message}`);
          box.className = 'render-error';
          box.append(span('', 'Unable to render rich display'));
          const detail = document.createElement('pre');
          detail.textContent = message;
          box.append(detail);
          mermaidTools.removeScratch(id);
        }
        pre.replaceWith(box);
        continue;
      }
      const wrapper = document.createElement('div');
      wrapper.className = lang ? `highlight highlight-source-${lang}` : 'snippet-clipboard-content';
      pre.replaceWith(wrapper);
      wrapper.append(pre);
      if (lang === 'diff' || lang === 'patch') {
        const code = pre.querySelector('code') ?? pre;
        code.replaceChildren(
          ...source.split('\n').flatMap((line, i) => {
            const cls = diffClass(line);
            const node = cls ? span(cls, line) : document.createTextNode(line);
            return i === 0 ? [node] : [document.createTextNode('\n'), node];
          }),
        );
      }
    }
    await document.fonts.ready;
    await Promise.all(
      Array.from(document.images, (img) =>
        img.complete
          ? null
          : new Promise((done) => {
              img.addEventListener('load', done);
              img.addEventListener('error', done);
              setTimeout(done, 2000);
            }),
      ),
    );
    return failures;
  }, html);

  await page.screenshot({ path: resolve(output), fullPage: true, type: 'png' });
  for (const failure of failures) console.error(`error ${input}: ${failure.replace(/\s*\n\s*/g, ' | ')}`);
  console.log(`wrote ${output} (${width} CSS px wide, scale 2)`);
  return failures.length ? 1 : 0;
});
