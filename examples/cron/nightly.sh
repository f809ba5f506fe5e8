#!/usr/bin/env bash
# Nightly ingest for cron: mirror a folder, re-check a list of URLs, run the
# queue dry, and exit non-zero (with one line on stdout, which cron mails)
# when anything failed in the last 24 hours.
#
#   DOCS_DIR   folder of PDFs to mirror into the store (required)
#   URL_LIST   file of URLs, one a line, # comments allowed (optional)
#   LOG_DIR    where the dated logs go (default: $INGESTQ_HOME/logs, else ~/ingestq-logs)
#   INGESTQ    the ingestq executable (default: ingestq on PATH; cron's PATH is short,
#              so give the full path, e.g. /opt/ingestq/.venv/bin/ingestq)
#   INGESTQ_HOME and the other INGESTQ_* settings pass through to ingestq.
set -uo pipefail

: "${DOCS_DIR:?set DOCS_DIR to the folder to mirror}"
INGESTQ="${INGESTQ:-ingestq}"
if [ -n "${INGESTQ_HOME:-}" ]; then
    LOG_DIR="${LOG_DIR:-$INGESTQ_HOME/logs}"
else
    LOG_DIR="${LOG_DIR:-$HOME/ingestq-logs}"
fi
mkdir -p "$LOG_DIR"
log="$LOG_DIR/nightly-$(date +%Y-%m-%d).log"

step() {
    # Run one ingestq command, logging it and its output; remember a failure.
    echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) ingestq $*" >>"$log"
    "$INGESTQ" "$@" >>"$log" 2>&1
    local rc=$?
    [ "$rc" -eq 0 ] || { echo "   exit $rc" >>"$log"; problems+=("ingestq $1 exited $rc"); }
    return 0
}

problems=()
# New and changed PDFs are queued, unchanged ones skipped, deleted ones removed.
# A missing or empty folder (an unmounted disk) removes nothing: it fails instead.
step add "$DOCS_DIR" --sync
if [ -n "${URL_LIST:-}" ]; then
    # Conditional GETs: an unchanged page costs one request and no embedding.
    step scrape --from-file "$URL_LIST"
fi
# Exits 0 once the due queue is drained, even if some jobs failed.
step worker --burst

failed="$("$INGESTQ" status --state failed --since 24h --json 2>>"$log")"
if [ "$failed" != "[]" ]; then
    echo "$failed" >>"$log"
    problems+=("jobs failed in the last 24h: ingestq status --state failed --since 24h")
fi

if [ "${#problems[@]}" -gt 0 ]; then
    echo "ingestq nightly: ${problems[*]} (log: $log)"
    exit 1
fi
echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) ok" >>"$log"
