"""The base of every run-folder and sweep-folder record: one typed model per file.

A record is a pydantic model with a ``schema_version``; ``Record.read(path)`` is the one
tolerant read of its file and ``record.write(path)`` the one atomic write (a temporary
file in the same folder, fsync, ``os.replace``: dlhw.runtime.files). Reading is tolerant
of what older dlhw releases wrote (a file without ``schema_version`` is version 0 and is
migrated as it is read, see ``migrate``) and of keys a record does not declare (kept as
they are, so nothing a file holds is lost on a rewrite). A file that cannot be read as its
record (not JSON, not an object, a wrong type, a newer ``schema_version`` than this dlhw
knows) raises ``RecordError``: one line naming the file and what is wrong. Readers that
list many folders (``dlhw report``, a sweep's manifest) show that line as a warning and
carry on. A missing file raises ``RecordMissing`` (a RecordError); ``read_optional``
returns None for it instead.

No heavy imports: pydantic only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from typing_extensions import Self

from dlhw.errors import DataError

R = TypeVar("R", bound="Record")

MAX_BYTES = 64 * 1024 * 1024  # a record file larger than this is refused unread (a hostile or runaway file)


class RecordError(DataError):
    """A run-folder or sweep-folder file that cannot be read as its record (one line: the file, what is wrong)."""

    def __init__(self, path: Path | str, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class RecordMissing(RecordError):
    """The record's file does not exist."""


def validation_line(exc: ValidationError) -> str:
    """A pydantic error as one line: the first problem's dotted key, its message, what was received."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "(top level)"
    got = json.dumps(err.get("input"), default=str)
    got = got if len(got) <= 60 else got[:57] + "..."
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {err.get('msg', 'invalid')}; received {got}{more}"


def load_json_file(path: Path) -> Any:
    """The JSON value a file holds; RecordMissing / RecordError with one line otherwise."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise RecordMissing(path, "no such file") from None
    except IsADirectoryError:
        raise RecordError(path, "is a folder, not a file") from None
    except OSError as exc:
        raise RecordError(path, f"cannot be read: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise RecordError(path, f"is larger than {MAX_BYTES // (1024 * 1024)} MiB; not a file dlhw wrote")
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise RecordError(path, "is not UTF-8 text (damaged?)") from None
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        where = f" at line {line}" if line else ""
        raise RecordError(path, f"is not valid JSON{where} (damaged or cut short?)") from None


class Record(BaseModel):
    """One file of a run or sweep folder. Subclasses set ``FILE`` (its name in the folder) and
    ``SCHEMA_VERSION`` (what this dlhw writes), declare their fields and may override ``migrate``."""

    model_config = ConfigDict(extra="allow", ser_json_inf_nan="constants")  # NaN stays NaN, as json.dumps writes it

    FILE: ClassVar[str] = ""
    SCHEMA_VERSION: ClassVar[int] = 1

    schema_version: int = 1

    # ------------------------------------------------------------------ reading
    @classmethod
    def migrate(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        """``data`` as written by schema ``version`` (0: no schema_version, the release before
        records), brought to ``SCHEMA_VERSION``. The base keeps it as it is."""
        return data

    @classmethod
    def from_data(cls, data: Any, path: Path | str = "(data)") -> Self:
        """The record for a parsed JSON value (RecordError naming ``path`` if it does not fit)."""
        if not isinstance(data, dict):
            raise RecordError(path, f"holds a JSON {type(data).__name__}, not an object; not a {cls.FILE or 'record'}")
        version = data.get("schema_version", 0)
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise RecordError(path, f"schema_version: must be a whole number >= 0; received {version!r}")
        if version > cls.SCHEMA_VERSION:
            raise RecordError(path, f"schema_version {version} is newer than this dlhw reads "
                                    f"(up to {cls.SCHEMA_VERSION}); upgrade dlhw to read it")
        if version < cls.SCHEMA_VERSION:
            data = cls.migrate(dict(data), version)
        data = {**data, "schema_version": cls.SCHEMA_VERSION}
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise RecordError(path, validation_line(exc)) from None

    @classmethod
    def build(cls, data: dict[str, Any], path: Path | str = "(data)") -> Self:
        """The record for data a writer computed (NumPy numbers and arrays, paths and enums made
        plain JSON values first), at this dlhw's ``SCHEMA_VERSION``; RecordError if it does not fit."""
        from dlhw.runtime.files import plain_json

        return cls.from_data({**plain_json(data), "schema_version": cls.SCHEMA_VERSION}, path)

    @classmethod
    def read(cls, path: Path | str) -> Self:
        """The file at ``path`` as this record; RecordMissing or RecordError (one line) otherwise."""
        return cls.from_data(load_json_file(Path(path)), path)

    @classmethod
    def read_optional(cls, path: Path | str) -> Self | None:
        """Like ``read``; None when the file does not exist (a damaged file still raises RecordError)."""
        try:
            return cls.read(path)
        except RecordMissing:
            return None

    @classmethod
    def in_folder(cls, folder: Path | str) -> Path:
        return Path(folder) / cls.FILE

    # ------------------------------------------------------------------ writing
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data, ``schema_version`` first: the keys read or given (unset defaults are left
        out, as the files always did), the undeclared keys kept."""
        data = self.model_dump(mode="json", exclude_unset=True)
        return {"schema_version": self.SCHEMA_VERSION, **{k: v for k, v in data.items() if k != "schema_version"}}

    def as_dict(self) -> dict[str, Any]:
        """The file's content as the plain dict readers used before records (no ``schema_version``)."""
        data = self.to_dict()
        data.pop("schema_version", None)
        return data

    def write(self, path: Path | str) -> None:
        """Atomically: the old file or the new one, never half of one (WriteError naming the file)."""
        from dlhw.runtime.files import write_json

        write_json(Path(path), self.to_dict())

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON Schema (draft 2020-12, as pydantic writes it) of this record's file."""
        schema = cls.model_json_schema(mode="serialization")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["title"] = cls.FILE or cls.__name__
        return schema
