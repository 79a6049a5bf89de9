#!/usr/bin/env bash
# Rebuild past monitoring dates with `airflow backfill create`, one backfill
# per date, oldest first, each started once Airflow has marked the previous
# one complete (Airflow runs one backfill per DAG at a time).
#
#   tools/backfill.sh [--conf JSON] DAG_ID DATE [DATE ...]
#
# The DAGs run hourly, so a backfill over a date range would make one run
# per hour. Each backfill here covers one hour instead (00:00 UTC of the
# date) and passes the date as the monitoring_date parameter, so its single
# run works on every configured region for that date (set "regions" in
# --conf to narrow it). Like any backfill it mails no one unless --conf sets
# "send_mail": true. The script returns once the last backfill is created;
# the scheduler runs it. Needs `airflow` and `python3` on the PATH.
set -euo pipefail

usage() {
  echo "usage: $0 [--conf JSON] DAG_ID DATE [DATE ...]   (dates as YYYY-MM-DD)" >&2
  exit 2
}

CONF='{}'
if [ "${1:-}" = "--conf" ]; then
  [ $# -ge 2 ] || usage
  CONF="$2"
  shift 2
fi
[ $# -ge 2 ] || usage
DAG_ID="$1"
shift
AIRFLOW="${AIRFLOW:-airflow}"
# Seconds between two tries while the previous backfill is still running.
POLL="${DUPMON_BACKFILL_POLL:-15}"

for DAY in $(printf '%s\n' "$@" | sort); do
  RUN_CONF="$(python3 - "$CONF" "$DAY" <<'EOF'
import datetime, json, sys

conf, day = sys.argv[1], sys.argv[2]
try:
    datetime.date.fromisoformat(day)
except ValueError:
    sys.exit(f"invalid date {day!r}; use YYYY-MM-DD")
try:
    values = json.loads(conf)
except json.JSONDecodeError as error:
    sys.exit(f"invalid --conf {conf!r}: {error}")
if not isinstance(values, dict):
    sys.exit(f"invalid --conf {conf!r}: write a JSON object")
print(json.dumps({**values, "monitoring_date": day}))
EOF
)"
  while true; do
    if OUTPUT="$("$AIRFLOW" backfill create --dag-id "$DAG_ID" \
        --from-date "${DAY}T00:00:00+00:00" --to-date "${DAY}T00:00:00+00:00" \
        --max-active-runs 1 --reprocess-behavior completed \
        --dag-run-conf "$RUN_CONF" 2>&1)"; then
      echo "Created the backfill of $DAG_ID for $DAY"
      break
    fi
    if grep -q "Another backfill is running" <<<"$OUTPUT"; then
      sleep "$POLL"
      continue
    fi
    printf '%s\n' "$OUTPUT" | tail -20 >&2
    echo "airflow backfill create failed for $DAG_ID $DAY; the dates before it are queued" >&2
    exit 1
  done
done
