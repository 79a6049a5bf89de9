#!/usr/bin/env bash
# The demo: set up the project-local Airflow, start the loopback SMTP sink,
# run the quarterly DAG for the memo's two monitoring dates on the bundled
# sample exports of the bundled region (Sakhalin), and print where the
# results are. Safe to rerun: the outputs are rebuilt the same, and the mail
# ledger sends nothing twice.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/tools/airflow_env.sh"
BIN="$ROOT/.venv/bin"
mkdir -p "$AIRFLOW_HOME" "$DUPMON_DATA_DIR"

# The pair-key secret is made once, outside the data root.
if [ ! -s "$DUPMON_SECRET_FILE" ]; then
  (umask 077 && "$BIN/python" -c 'import secrets; print(secrets.token_hex(32))' >"$DUPMON_SECRET_FILE")
  echo "Created the pair-key secret in $DUPMON_SECRET_FILE"
fi
export AIRFLOW_VAR_DUPMON_PAIR_KEY_SECRET="$(cat "$DUPMON_SECRET_FILE")"

echo "Migrating the Airflow metadata database in $AIRFLOW_HOME ..."
"$BIN/airflow" db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 || {
  tail -20 "$AIRFLOW_HOME/db-migrate.log"; echo "airflow db migrate failed; see $AIRFLOW_HOME/db-migrate.log" >&2; exit 1; }

# The sink's folder is no region's, so it stays out of the data root.
MAILDIR="$AIRFLOW_HOME/received_mail"
REGION_DATA="$DUPMON_DATA_DIR/sakhalin"
PIDFILE="$AIRFLOW_HOME/smtp_sink.pid"
"$BIN/python" -m dupmon.smtp_sink --maildir "$MAILDIR" --port "$DUPMON_SMTP_PORT" \
  --pid-file "$PIDFILE" >"$AIRFLOW_HOME/smtp_sink.log" 2>&1 &
SINK=$!
trap 'kill "$SINK" 2>/dev/null || true; wait "$SINK" 2>/dev/null || true' EXIT
# Wait until our own sink listens. Another program on the port would also
# accept a connection, so the sink must still be alive once the port accepts.
sink_failed() {
  cat "$AIRFLOW_HOME/smtp_sink.log" >&2
  echo "The SMTP sink did not start on 127.0.0.1:$DUPMON_SMTP_PORT; if the port is taken, rerun with DUPMON_SMTP_PORT set to a free port." >&2
  exit 1
}
READY=no
for _ in $(seq 100); do
  kill -0 "$SINK" 2>/dev/null || sink_failed
  if "$BIN/python" -c "import socket; socket.create_connection(('127.0.0.1', $DUPMON_SMTP_PORT), 1)" 2>/dev/null; then
    sleep 0.5
    kill -0 "$SINK" 2>/dev/null || sink_failed
    READY=yes
    break
  fi
  sleep 0.2
done
[ "$READY" = yes ] || sink_failed

# The DAG runs hourly, and each run takes the regions whose cron fired in its
# hour. The logical date 22:00 UTC of the 16th is 09:00 on the 17th in
# Asia/Sakhalin, the hour of Sakhalin's справка.
for DAY in 2024-10-17 2025-01-17; do
  LOG="$AIRFLOW_HOME/dags-test-$DAY.log"
  DUE_HOUR="$("$BIN/python" -c "import datetime as d, sys; print((d.date.fromisoformat(sys.argv[1]) - d.timedelta(days=1)).isoformat() + 'T22:00:00+00:00')" "$DAY")"
  echo "Running dupmon_quarterly for $DAY, logical date $DUE_HOUR (log: $LOG) ..."
  if ! "$BIN/airflow" dags test dupmon_quarterly "$DUE_HOUR" >"$LOG" 2>&1 \
      || ! grep -q "DagRun Finished:.*state=success" "$LOG"; then
    grep -E "ERROR|Error|rejected|failed" "$LOG" | tail -20 >&2 || true
    echo "The run for $DAY did not succeed; see $LOG" >&2
    exit 1
  fi
done

echo
echo "Done."
for DAY in 2024-10-17 2025-01-17; do
  echo "  справка $DAY:   $REGION_DATA/reports/$DAY/spravka.docx (and .pdf, .html, appendix1.csv, appendix2.csv)"
  echo "  reminders $DAY: $REGION_DATA/reports/$DAY/reminders/ (advice letters in advice/)"
done
echo "  received mail:  $MAILDIR ($(ls "$MAILDIR" 2>/dev/null | grep -c '\.eml$' || true) messages)"
echo "  mail ledger:    $REGION_DATA/mail/ledger.sqlite"
