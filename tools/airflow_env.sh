# Environment of the project-local Airflow: sourced by tools/demo.sh and the
# tests' conftest reads the same names. Everything generated stays in the
# git-ignored .airflow/ and data/ folders of the checkout.
ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/.airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__UNIT_TEST_MODE=False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-sqlite:///$AIRFLOW_HOME/airflow.db}"
export AIRFLOW__LOGGING__BASE_LOG_FOLDER="$AIRFLOW_HOME/logs"
export GX_ANALYTICS_ENABLED=false
export DUPMON_DATA_DIR="${DUPMON_DATA_DIR:-$ROOT/data}"
export DUPMON_INBOX="${DUPMON_INBOX:-$ROOT/include/sample_exports}"
export DUPMON_SMTP_PORT="${DUPMON_SMTP_PORT:-8025}"
export DUPMON_SECRET_FILE="${DUPMON_SECRET_FILE:-$AIRFLOW_HOME/pair_key_secret}"
export AIRFLOW_CONN_SMTP_DEFAULT="{\"conn_type\": \"smtp\", \"host\": \"127.0.0.1\", \"port\": $DUPMON_SMTP_PORT, \"extra\": {\"disable_ssl\": true, \"disable_tls\": true, \"from_email\": \"monitoring@example.org\", \"timeout\": 30}}"
