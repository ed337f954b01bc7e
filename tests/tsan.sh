#!/usr/bin/env bash
# ThreadSanitizer run of the concurrent tests: see tests/sanitize.sh.
exec "$(dirname "$0")/sanitize.sh" thread "$@"
