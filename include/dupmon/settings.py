"""Settings of a run, read from the environment with embedded defaults.

The DAGs pass Airflow Variables in through the same names, so the package
itself never imports Airflow.

===============================  ==========================================
variable                         meaning
===============================  ==========================================
DUPMON_DATA_DIR                  data root (default ``./data``)
DUPMON_INBOX                     folder operators drop exports into
                                 (default ``<data root>/inbox``)
DUPMON_REGION                    region folder under ``include/config/regions``
DUPMON_CONFIG_DIR                folder of the region folders
DUPMON_PAIR_KEY_SECRET           secret of the pair keys (HMAC-SHA256)
DUPMON_SECRET_FILE               file the secret is kept in when the
                                 variable is unset
DUPMON_MAX_FILE_BYTES            largest export accepted, in bytes
DUPMON_MAX_UNPACKED_BYTES        largest unpacked size of a zipped workbook
DUPMON_MAX_CELLS                 most cells one sheet may expand to
                                 (merged ranges and spans included)
DUPMON_RAW_RETENTION_DAYS        days raw exports and quarantined copies
                                 are kept (default: forever)
DUPMON_SMTP_HOST / _PORT         SMTP server of the command line runs
DUPMON_MAIL_FROM                 sender address of the command line runs
===============================  ==========================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

INCLUDE_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    inbox_dir: Path
    config_dir: Path = INCLUDE_DIR / "config" / "regions"
    region: str = "sakhalin"
    templates_dir: Path = INCLUDE_DIR / "templates"
    suite_file: Path = INCLUDE_DIR / "gx" / "duplicate_export_suite.json"
    pair_key_secret: str | None = field(default=None, repr=False)
    secret_file: Path = Path.home() / ".config" / "dupmon" / "pair_key_secret"
    max_file_bytes: int = 50 * 1024 * 1024
    max_unpacked_bytes: int = 500 * 1024 * 1024
    raw_retention_days: int | None = None
    max_cells: int = 2_000_000
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    mail_from: str = "monitoring@example.org"

    @property
    def region_dir(self) -> Path:
        return self.config_dir / self.region

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def snapshots_dir(self) -> Path:
        return self.data_dir / "snapshots"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def work_dir(self) -> Path:
        return self.data_dir / "work"

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    def with_overrides(self, **changes) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def load_settings(environ: dict[str, str] | None = None, **overrides) -> Settings:
    """Build the settings from environment variables, then apply ``overrides``."""
    env = os.environ if environ is None else environ
    data_dir = Path(env.get("DUPMON_DATA_DIR", "data")).resolve()
    settings = Settings(
        data_dir=data_dir,
        inbox_dir=Path(env.get("DUPMON_INBOX", data_dir / "inbox")).resolve(),
        pair_key_secret=env.get("DUPMON_PAIR_KEY_SECRET") or None,
    )
    optional = {
        "config_dir": ("DUPMON_CONFIG_DIR", Path),
        "region": ("DUPMON_REGION", str),
        "secret_file": ("DUPMON_SECRET_FILE", Path),
        "max_file_bytes": ("DUPMON_MAX_FILE_BYTES", int),
        "max_unpacked_bytes": ("DUPMON_MAX_UNPACKED_BYTES", int),
        "raw_retention_days": ("DUPMON_RAW_RETENTION_DAYS", int),
        "max_cells": ("DUPMON_MAX_CELLS", int),
        "smtp_host": ("DUPMON_SMTP_HOST", str),
        "smtp_port": ("DUPMON_SMTP_PORT", int),
        "mail_from": ("DUPMON_MAIL_FROM", str),
    }
    values = {}
    for attribute, (name, convert) in optional.items():
        if env.get(name):
            try:
                values[attribute] = convert(env[name])
            except ValueError:
                expected = "a whole number" if convert is int else "a valid value"
                raise ValueError(
                    f"invalid value {env[name]!r} of {name}: expected {expected}"
                    + (" of bytes" if name.endswith("_BYTES") else "")
                    + (" of days" if name.endswith("_DAYS") else "")
                ) from None
    for attribute in ("max_file_bytes", "max_unpacked_bytes", "max_cells", "raw_retention_days"):
        if attribute in values and values[attribute] < (0 if attribute == "raw_retention_days" else 1):
            name = optional[attribute][0]
            raise ValueError(f"invalid value {values[attribute]} of {name}: it must be positive")
    settings = replace(settings, **values)
    data_override = overrides.get("data_dir")
    if data_override is not None:
        overrides["data_dir"] = Path(data_override).resolve()
        if overrides.get("inbox_dir") is None and "DUPMON_INBOX" not in env:
            overrides["inbox_dir"] = overrides["data_dir"] / "inbox"
    if overrides.get("inbox_dir") is not None:
        overrides["inbox_dir"] = Path(overrides["inbox_dir"]).resolve()
    return settings.with_overrides(**overrides)
