#!/usr/bin/env bash
# Vendors KaTeX from the npm registry into docs/assets/katex/, where the site serves it from:
# the math renders offline and no page fetches a script or a font from another host.
# Usage: bash docsite/vendor_katex.sh [VERSION]   (the committed copy: 0.19.1)
# Kept: the minified script and style, the auto-render extension, the licence and the fonts
# as woff2 only (every browser since 2018 reads woff2, and the style names it first, so the
# .woff and .ttf fallbacks it also names are never fetched).
set -euo pipefail
version="${1:-0.19.1}"
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "katex@$version" > /dev/null && tar xzf "katex-$version.tgz")
dist="$work/package/dist"
out=docs/assets/katex
rm -rf "$out"
mkdir -p "$out/contrib" "$out/fonts"
cp "$dist/katex.min.js" "$dist/katex.min.css" "$out/"
cp "$dist/contrib/auto-render.min.js" "$out/contrib/"
cp "$dist"/fonts/*.woff2 "$out/fonts/"
cp "$work/package/LICENSE" "$out/LICENSE"
echo "KaTeX $version ($(du -sh "$out" | cut -f1)) in $out"
