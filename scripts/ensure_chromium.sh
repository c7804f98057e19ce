#!/usr/bin/env bash
# Debian's Chromium, a CJK font and an emoji font for the browser tests. Playwright cannot
# download its own browser here, so the tests drive /usr/bin/chromium (executable_path); without
# the fonts the Chinese chat page (and the bot's 🚀/✅) render as boxes in screenshots.
# Idempotent and quick: a no-op when all three are present.
#   scripts/ensure_chromium.sh            install what is missing (needs root, or sudo)
#   CJK_FONT_PACKAGE=fonts-noto-cjk scripts/ensure_chromium.sh   another font package
set -euo pipefail

CHROMIUM=/usr/bin/chromium
FONT_PACKAGE=${CJK_FONT_PACKAGE:-fonts-wqy-microhei}
EMOJI_PACKAGE=fonts-noto-color-emoji

say() { printf '\033[1;34m[chromium]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[chromium] %s\033[0m\n' "$*" >&2; exit 1; }

has_cjk_font() {
  command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list :lang=zh family 2>/dev/null)" ]
}

has_emoji_font() {
  command -v fc-list >/dev/null 2>&1 && fc-list : family 2>/dev/null | grep -qi emoji
}

missing=()
[ -x "$CHROMIUM" ] || missing+=(chromium)
has_cjk_font || missing+=("$FONT_PACKAGE")
has_emoji_font || missing+=("$EMOJI_PACKAGE")
if [ ${#missing[@]} -eq 0 ]; then
  say "$CHROMIUM, a CJK font and an emoji font are installed"
  exit 0
fi

command -v apt-get >/dev/null 2>&1 || die "no apt-get: install ${missing[*]} by hand"
SUDO=()
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "installing ${missing[*]} needs root (or sudo)"
  SUDO=(sudo -n)
fi

say "installing ${missing[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
[ -x "$CHROMIUM" ] || die "apt-get finished but $CHROMIUM is still missing"
has_cjk_font || die "apt-get finished but fontconfig lists no Chinese font"
say "ready: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
