"""Problems found in an export, worded for the clerk who has to fix the file."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Problem:
    """One problem of an export file, in English and Russian.

    ``row`` is the row number as a spreadsheet program shows it (1-based),
    ``column`` the caption printed in the file's header.
    """

    message: str
    message_ru: str
    action: str
    action_ru: str
    row: int | None = None
    column: str | None = None
    value: str | None = None
    severity: str = "error"

    def describe(self, file_name: str) -> str:
        """Return the English one-line description used in logs and errors."""
        where = [f"file {file_name!r}"]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column {self.column!r}")
        if self.value is not None:
            where.append(f"value {self.value!r}")
        return f"{', '.join(where)}: {self.message}. {self.action}"

    def describe_ru(self, file_name: str) -> str:
        where = [f"файл «{file_name}»"]
        if self.row is not None:
            where.append(f"строка {self.row}")
        if self.column:
            where.append(f"столбец «{self.column}»")
        if self.value is not None:
            where.append(f"значение «{self.value}»")
        return f"{', '.join(where)}: {self.message_ru}. {self.action_ru}"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RejectedFileError(Exception):
    """An export that cannot be taken, with ``problems`` giving the reasons row by row."""

    file_name: str
    problems: list[Problem] = field(default_factory=list)
    files: list[RejectedFileError] = field(default_factory=list)

    @classmethod
    def combine(cls, errors: list[RejectedFileError]) -> RejectedFileError:
        """Return one error for several rejected files, each keeping its own name."""
        if len(errors) == 1:
            return errors[0]
        names = ", ".join(error.file_name for error in errors)
        problems = [problem for error in errors for problem in error.problems]
        return cls(names, problems, files=list(errors))

    def __str__(self) -> str:
        if self.files:
            return f"{len(self.files)} files rejected: " + " | ".join(str(e) for e in self.files)
        shown = [p.describe(self.file_name) for p in self.problems[:5]]
        more = len(self.problems) - len(shown)
        if more > 0:
            shown.append(f"... and {more} more problems, see the quarantine report")
        return "; ".join(shown) if shown else f"file {self.file_name!r} was rejected"


class ConfigError(ValueError):
    """Invalid or missing settings, directory or recipients file."""
