#!/bin/sh
# README.md and docs/*.md stand alone: every relative link resolves to a
# file of the repository, none leaves its tree, and nothing points at the
# design folder outside it (../shared). Web links (http, https) and
# anchors within a page are allowed. Usage: links.sh SOURCE_DIR
set -u
root=$(cd "$1" && pwd -P)
status=0
for doc in "$root"/README.md "$root"/docs/*.md; do
  rel=${doc#"$root"/}
  dir=$(dirname "$doc")
  if grep -n 'shared/design\|\.\./shared' "$doc" >/dev/null; then
    echo "FAIL: $rel mentions the design folder outside the repository:"
    grep -n 'shared/design\|\.\./shared' "$doc"; status=1
  fi
  # Inline links and images: ](target) or ](target "title").
  for target in $(grep -o '\]([^)[:space:]]*' "$doc" | sed 's/^](//'); do
    case "$target" in
      http://*|https://*|mailto:*|'#'*) continue ;;
      /*) echo "FAIL: $rel: absolute link $target"; status=1; continue ;;
      *:*) echo "FAIL: $rel: link $target leaves the repository"; status=1; continue ;;
    esac
    path=${target%%#*}
    [ -n "$path" ] || continue
    if [ ! -e "$dir/$path" ]; then
      echo "FAIL: $rel: link $target: no such file"; status=1; continue
    fi
    real=$(cd "$(dirname "$dir/$path")" && pwd -P)/$(basename "$path")
    case "$real" in
      "$root"/*|"$root") ;;
      *) echo "FAIL: $rel: link $target leaves the repository ($real)"; status=1 ;;
    esac
  done
  # Reference-style definitions: [label]: target
  for target in $(grep -o '^\[[^]]*\]:[[:space:]]*[^[:space:]]*' "$doc" | sed 's/^\[[^]]*\]:[[:space:]]*//'); do
    case "$target" in
      http://*|https://*|mailto:*|'#'*) continue ;;
    esac
    [ -e "$dir/${target%%#*}" ] || { echo "FAIL: $rel: reference link $target: no such file"; status=1; }
  done
done
[ $status -eq 0 ] && echo "ok: every link of README.md and docs/*.md stays in the repository"
exit $status
