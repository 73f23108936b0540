#!/usr/bin/env bash
# Every man page renders without a single groff/man warning, and lexgrog finds its NAME line.
set -euo pipefail
status=0
for page in "$@"; do
  warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null || true)
  if [[ -n "$warnings" ]]; then echo "$page: $warnings"; status=1; fi
  if ! lexgrog "$page" >/dev/null; then echo "$page: lexgrog finds no NAME section"; status=1; fi
done
[[ $status -eq 0 ]] && echo "man pages: no warnings"
exit $status
