"""A region's own settings (``region.yaml``) and which regions are due when.

Each region folder under the config folder contains ``region.yaml``::

    name: Сахалинская область          # display name, nominative
    name_genitive: Сахалинской области # «справка … Сахалинской области»
    timezone: Asia/Sakhalin            # IANA name
    schedule:                          # cron, evaluated in ``timezone``
      spravka: "0 9 17 1,4,7,10 *"     # the quarterly справка
      reminders: "0 9 17 2,3,5,6,8,9,11,12 *"   # the monthly reminders

The DAGs run every hour and ask :func:`due_regions` which regions' cron
fired within the run's data interval.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dupmon.errors import ConfigError
from dupmon.settings import REGION_FILE, Settings, check_region_name, configured_regions
from dupmon.yaml_files import read_yaml

log = logging.getLogger(__name__)

SCHEDULES = ("spravka", "reminders")
KEYS = ("name", "name_genitive", "timezone", "schedule")
EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "regions" / "sakhalin" / REGION_FILE
# Maximum number of cron times counted in one interval. An hourly data
# interval contains at most 60 of them, even for a cron that fires every minute.
MAX_FIRE_TIMES = 10_000


@dataclass(frozen=True)
class RegionConfig:
    """The contents of one region's ``region.yaml``."""

    id: str
    name: str
    name_genitive: str
    timezone: str
    schedule: dict[str, str]
    path: Path

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_region_config(folder: Path) -> RegionConfig:
    """Read and check ``folder/region.yaml``.

    Raises ConfigError naming the file, the key and the value of the first
    problem, and what to write instead.
    """
    path = folder / REGION_FILE
    if not path.is_file():
        raise ConfigError(
            f"{path} is missing: every region folder needs a region.yaml with {', '.join(KEYS)}; "
            f"copy {EXAMPLE} and edit it"
        )
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: the file must be a mapping with the keys {', '.join(KEYS)}; see {EXAMPLE}"
        )
    unknown = sorted(str(key) for key in raw if key not in KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r}; use {', '.join(KEYS)}")

    timezone = _text(raw, "timezone", path)
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{path}: timezone {timezone!r} is not a known IANA time zone; "
            "write a name such as Asia/Sakhalin or Europe/Moscow"
        ) from None

    schedule = raw.get("schedule")
    if not isinstance(schedule, dict):
        raise ConfigError(
            f"{path}: schedule must be a mapping with the crons {' and '.join(SCHEDULES)}, "
            f'such as spravka: "0 9 17 1,4,7,10 *"; found {schedule!r}'
        )
    unknown = sorted(str(key) for key in schedule if key not in SCHEDULES)
    if unknown:
        raise ConfigError(
            f"{path}: unknown key schedule.{unknown[0]}; use {' and '.join(SCHEDULES)}"
        )
    crons = {name: _cron(schedule, name, path) for name in SCHEDULES}

    return RegionConfig(
        id=check_region_name(folder.name, f"the folder name of {folder}"),
        name=_text(raw, "name", path),
        name_genitive=_text(raw, "name_genitive", path),
        timezone=timezone,
        schedule=crons,
        path=path,
    )


def _text(raw: dict, key: str, path: Path) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{path}: {key} must be non-empty text; found {value!r}")
    return " ".join(value.split())


def _cron(schedule: dict, name: str, path: Path) -> str:
    from croniter import croniter

    value = schedule.get(name)
    fix = (
        "write five fields (minute hour day-of-month month day-of-week), "
        'such as "0 9 17 1,4,7,10 *", in quotes'
    )
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"{path}: schedule.{name} must be a cron expression; found {value!r}; {fix}"
        )
    expression = " ".join(value.split())
    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        raise ConfigError(
            f"{path}: schedule.{name} {expression!r} is not a valid cron expression; {fix}"
        )
    return expression


def select_regions(settings: Settings, requested: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Return the regions to run: ``requested``, else ``settings.regions``, else all configured.

    Raises ConfigError for a requested region without a region folder, and
    when no region is configured at all.
    """
    available = configured_regions(settings.config_dir)
    chosen = list(requested) or list(settings.regions)
    if not chosen:
        if not available:
            raise ConfigError(
                f"no region is configured: no folder under {settings.config_dir} contains a "
                f"{REGION_FILE}; set DUPMON_CONFIG_DIR to the folder of the region folders"
            )
        return available
    missing = [name for name in chosen if check_region_name(name) not in available]
    if missing:
        raise ConfigError(
            f"region {missing[0]!r} has no folder with a {REGION_FILE} under "
            f"{settings.config_dir}; the configured regions are {', '.join(available) or 'none'}"
        )
    return list(dict.fromkeys(chosen))


def fire_times(
    cron: str, zone: ZoneInfo, start: dt.datetime, end: dt.datetime
) -> list[dt.datetime]:
    """Return the times in (``start``, ``end``] at which ``cron`` fires, in UTC.

    The cron is evaluated on the wall clock of ``zone``, as Airflow's
    CronTriggerTimetable does. ``start`` and ``end`` must be aware.
    """
    from croniter import croniter

    local_start = start.astimezone(zone).replace(tzinfo=None)
    iterator = croniter(cron, local_start)
    times = []
    for _ in range(MAX_FIRE_TIMES):
        local = iterator.get_next(dt.datetime)
        moment = local.replace(tzinfo=zone).astimezone(dt.UTC)
        if moment > end:
            break
        if moment > start:
            times.append(moment)
    return times


def due_regions(
    regions: list[RegionConfig], schedule: str, start: dt.datetime, end: dt.datetime
) -> list[dict]:
    """Return the regions whose ``schedule`` cron fires in (``start``, ``end``].

    Each entry is ``{"region": id, "monitoring_date": "YYYY-MM-DD"}``, the
    date being that of the fire time on the region's wall clock. A region
    whose cron fires more than once in the interval is due once, for the
    latest time, because two dates of one region must not run side by side.
    """
    due = []
    for region in regions:
        times = fire_times(region.schedule[schedule], region.zone, start, end)
        if not times:
            continue
        days = [moment.astimezone(region.zone).date().isoformat() for moment in times]
        if len(set(days)) > 1:
            log.warning(
                "The %s cron of %s fired on %s within %s - %s; running the latest date only",
                schedule,
                region.id,
                ", ".join(sorted(set(days))),
                start.isoformat(),
                end.isoformat(),
            )
        due.append({"region": region.id, "monitoring_date": days[-1]})
    return due
