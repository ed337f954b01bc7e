#!/usr/bin/env bash
# AddressSanitizer + UBSan run of the concurrent tests: see tests/sanitize.sh.
exec "$(dirname "$0")/sanitize.sh" address "$@"
