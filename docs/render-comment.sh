#!/usr/bin/env bash
# Renders docs/comment.png, the README's picture of a real comment: the sample migrations
# on `main`, the pull request in docs/example-pr on a branch, `verify --base main` writes
# the Markdown the Action posts, and tests/tools/mermaid/render.mjs draws it the way
# GitHub shows a comment, in Debian's headless chromium (`.ci/mermaid-setup` installs it).
# MIGRATION_CHECK_BIN picks the binary (default: a release build, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${MIGRATION_CHECK_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release --quiet
  bin="${CARGO_TARGET_DIR:-target}/release/migration-check"
fi
bin=$(readlink -f "$bin")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git_() { git -C "$work" -c user.name=docs -c user.email=docs@example.com "$@"; }
mkdir "$work/migrations"
cp migrations/*.sql "$work/migrations/"
git_ init -q -b main
git_ add -A && git_ commit -q -m "the sample migrations"
git_ checkout -q -b add-orders
cp docs/example-pr/*.sql "$work/migrations/"
git_ add -A && git_ commit -q -m "orders"
status=0
(cd "$work" && "$bin" verify migrations --base main --markdown "$work/comment.md" --quiet >/dev/null) || status=$?
# The example pull request fails on purpose (its down forgets an index): exit 1.
[ "$status" -eq 1 ] || { echo "verify exited $status, expected 1" >&2; exit 1; }
node tests/tools/mermaid/render.mjs "$work/comment.md" docs/comment.png --width 900
