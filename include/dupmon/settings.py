"""Settings of a run, read from the environment with embedded defaults.

The DAGs pass Airflow Variables in through the same names, so the package
itself never imports Airflow.

===============================  ==========================================
variable                         meaning
===============================  ==========================================
DUPMON_DATA_DIR                  data root (default ``./data``); each region
                                 works in ``<data root>/<region>/``
DUPMON_INBOX                     folder operators drop exports into; may
                                 contain ``{region}`` (default
                                 ``<data root>/<region>/inbox``)
DUPMON_REGION                    region folder of a command line run
                                 (default: the only region configured)
DUPMON_REGIONS                   region folders the DAGs run, separated by
                                 commas (default: every configured region)
DUPMON_CONFIG_DIR                folder of the region folders
DUPMON_PAIR_KEY_SECRET           secret of the pair keys (keyed BLAKE2b), one
                                 per deployment
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
DUPMON_TRANSPARENT_HUGE_PAGES    ``on`` leaves the kernel's transparent huge
                                 pages on in the step processes (default
                                 ``off``, see ``dupmon.huge_pages``)
===============================  ==========================================

A region is a folder under the config folder that contains ``region.yaml``
(see ``dupmon.regions``). Everything a run of one region writes lives in
that region's data folder, so regions never share a file and can run at
the same time.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from dupmon.errors import ConfigError

INCLUDE_DIR = Path(__file__).resolve().parent.parent
REGION_FILE = "region.yaml"
INBOX_PLACEHOLDER = "{region}"
# A region's folder name is a path component of the config folder and of the
# data root, so it must not contain a separator or start with a dot.
_REGION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def check_region_name(name: str, source: str = "the region name") -> str:
    """Return ``name`` if it can name a region folder; raise ConfigError otherwise."""
    if not _REGION_NAME.match(name or ""):
        raise ConfigError(
            f"invalid region {name!r} in {source}: use the name of a folder under the config "
            "folder, made of Latin letters, digits, '_' and '-', such as sakhalin"
        )
    return name


def configured_regions(config_dir: Path) -> list[str]:
    """Return the sorted names of the folders under ``config_dir`` that hold a region.yaml."""
    if not config_dir.is_dir():
        return []
    return sorted(
        path.name
        for path in config_dir.iterdir()
        if path.is_dir() and (path / REGION_FILE).is_file() and _REGION_NAME.match(path.name)
    )


@dataclass(frozen=True)
class Settings:
    """The settings of one deployment, for one region (``region``).

    ``inbox_pattern`` is ``DUPMON_INBOX`` as given, with ``{region}`` still
    in it; None means ``<region data folder>/inbox``. ``regions`` are the
    regions the DAGs run (``DUPMON_REGIONS``); empty means every configured one.
    """

    data_dir: Path
    inbox_pattern: str | None = None
    config_dir: Path = INCLUDE_DIR / "config" / "regions"
    region: str | None = None
    regions: tuple[str, ...] = ()
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
    transparent_huge_pages: bool = False

    def for_region(self, region: str) -> Settings:
        """Return these settings for another region of the same deployment."""
        return replace(self, region=check_region_name(region))

    @property
    def region_name(self) -> str:
        """The region folder name; raises ConfigError when no region is chosen."""
        if self.region is None:
            found = configured_regions(self.config_dir)
            raise ConfigError(
                f"no region is chosen, and the config folder {self.config_dir} contains "
                f"{len(found)} regions ({', '.join(found) or 'none'}); set DUPMON_REGION "
                "(or dupmon run --region) to one of them"
            )
        return self.region

    @property
    def region_config_dir(self) -> Path:
        return self.config_dir / self.region_name

    @property
    def region_data_dir(self) -> Path:
        """The region's own folder under the data root, which contains every path below."""
        return self.data_dir / self.region_name

    @property
    def inbox_dir(self) -> Path:
        if self.inbox_pattern is None:
            return self.region_data_dir / "inbox"
        return Path(self.inbox_pattern.replace(INBOX_PLACEHOLDER, self.region_name))

    @property
    def inbox_is_shared(self) -> bool:
        """Whether every region reads the same inbox (``DUPMON_INBOX`` without ``{region}``)."""
        return self.inbox_pattern is not None and INBOX_PLACEHOLDER not in self.inbox_pattern

    @property
    def raw_dir(self) -> Path:
        return self.region_data_dir / "raw"

    @property
    def quarantine_dir(self) -> Path:
        return self.region_data_dir / "quarantine"

    @property
    def snapshots_dir(self) -> Path:
        return self.region_data_dir / "snapshots"

    @property
    def reports_dir(self) -> Path:
        return self.region_data_dir / "reports"

    @property
    def work_dir(self) -> Path:
        return self.region_data_dir / "work"

    @property
    def mail_dir(self) -> Path:
        return self.region_data_dir / "mail"

    @property
    def data_docs_dir(self) -> Path:
        return self.region_data_dir / "data_docs"

    @property
    def cache_dir(self) -> Path:
        """Files one process keeps for later ones, which may be deleted at any time."""
        return self.region_data_dir / "cache"

    @property
    def register_file(self) -> Path:
        """The operators' register of pairs that cannot be eliminated (optional)."""
        return self.region_data_dir / "register" / "unresolvable.csv"

    def with_overrides(self, **changes) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def load_settings(environ: dict[str, str] | None = None, **overrides) -> Settings:
    """Build the settings from environment variables, then apply ``overrides``.

    Without ``DUPMON_REGION`` (or a ``region`` override) the region is the
    only one under the config folder, and stays unset when there are several.
    """
    env = os.environ if environ is None else environ
    settings = Settings(
        data_dir=Path(env.get("DUPMON_DATA_DIR", "data")).resolve(),
        inbox_pattern=_absolute(env.get("DUPMON_INBOX") or None),
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
        "transparent_huge_pages": ("DUPMON_TRANSPARENT_HUGE_PAGES", _on_off),
    }
    values = {}
    for attribute, (name, convert) in optional.items():
        if env.get(name):
            try:
                values[attribute] = convert(env[name])
            except ValueError:
                expected = _EXPECTED.get(convert, "a valid value")
                raise ValueError(
                    f"invalid value {env[name]!r} of {name}: expected {expected}"
                    + (" of bytes" if name.endswith("_BYTES") else "")
                    + (" of days" if name.endswith("_DAYS") else "")
                ) from None
    for attribute in ("max_file_bytes", "max_unpacked_bytes", "max_cells", "raw_retention_days"):
        if attribute in values and values[attribute] < (0 if attribute == "raw_retention_days" else 1):
            name = optional[attribute][0]
            raise ValueError(f"invalid value {values[attribute]} of {name}: it must be positive")
    if "region" in values:
        check_region_name(values["region"], "DUPMON_REGION")
    if env.get("DUPMON_REGIONS", "").strip():
        values["regions"] = tuple(
            check_region_name(name.strip(), "DUPMON_REGIONS")
            for name in env["DUPMON_REGIONS"].split(",")
            if name.strip()
        )
    settings = replace(settings, **values)

    if overrides.get("data_dir") is not None:
        overrides["data_dir"] = Path(overrides["data_dir"]).resolve()
    if overrides.get("inbox_pattern") is not None:
        overrides["inbox_pattern"] = _absolute(str(overrides["inbox_pattern"]))
    if overrides.get("region") is not None:
        check_region_name(overrides["region"], "the region option")
    settings = settings.with_overrides(**overrides)

    if settings.region is None:
        found = configured_regions(settings.config_dir)
        if len(found) == 1:
            settings = replace(settings, region=found[0])
    return settings


def _absolute(pattern: str | None) -> str | None:
    """Return an inbox pattern as an absolute path; ``{region}`` stays in place."""
    if pattern is None:
        return None
    return str(Path(pattern).resolve())


def _on_off(text: str) -> bool:
    """Return True for ``on``, False for ``off`` (also true/false, yes/no, 1/0)."""
    value = text.strip().lower()
    if value in ("on", "true", "yes", "1"):
        return True
    if value in ("off", "false", "no", "0"):
        return False
    raise ValueError(text)


# The value an invalid variable's error names as expected, by its converter.
_EXPECTED = {int: "a whole number", _on_off: "on or off"}
