"""Checked JSON objects: typed records declared as a table of fields, validated with the standard library.

Every JSON object the project reads from someone else (the CNI stdin, plugin results, annotations, the
daemon's config and requests, the node's record files) is declared as a `Record`: its fields, each with
a check that converts the decoded value or refuses it, a default, and the JSON key (`alias`). Checking
costs microseconds and importing this module well under a millisecond; the in-process plugin is a new
process per pod operation, which is why no validation library is used.

A refused object raises `SchemaError`, which holds every problem found, each as a `Problem`: the kind
of problem (`string_type`, `missing`, `greater_than_equal`, ...), where (`("plugins", 1, "type")`),
a sentence, the value at fault and the bounds involved. The callers turn those into the one-line
messages users see (`multus.cni.validation`, `multus.k8s.json_boundary`).

Exceptions::

    ValueError
    ├── SchemaError      an object refused, with every problem in it
    └── Invalid          one value refused, raised by a check (a plain ValueError works too)
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path, PurePath
from typing import Any, ClassVar, TypedDict, TypeVar

TYPE_CHECKING = False  # without importing typing's extras at run time
if TYPE_CHECKING:
    from typing import NotRequired, Self

Check = Callable[[Any], Any]
Loc = tuple[int | str, ...]
R = TypeVar("R", bound="Record")
D = TypeVar("D")


class Problem(TypedDict):
    """One refused value: the same keys a caller reads whatever the check was."""

    type: str
    loc: Loc
    msg: str
    input: Any
    ctx: NotRequired[dict[str, Any]]


class Invalid(ValueError):
    """`value` refused: `kind` names the problem, `msg` says it in a sentence, `ctx` holds the bounds."""

    def __init__(self, kind: str, msg: str, value: Any, ctx: dict[str, Any] | None = None) -> None:
        super().__init__(msg)
        self.kind, self.msg, self.value, self.ctx = kind, msg, value, ctx


class SchemaError(ValueError):
    """An object refused; `errors()` lists every problem, in the order of the fields."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in problems))
        self.problems = problems

    def errors(self) -> list[Problem]:
        return list(self.problems)

    def error_count(self) -> int:
        return len(self.problems)


def invalid(reason: str) -> Invalid:
    """A refusal whose whole message is `reason`."""
    return Invalid("invalid", reason, None, {"reason": reason})


def _problem(error: Invalid | ValueError, loc: Loc, value: Any) -> Problem:
    if isinstance(error, Invalid):
        found: Problem = {"type": error.kind, "loc": loc, "msg": error.msg, "input": value}
        if error.ctx is not None:
            found["ctx"] = error.ctx
        return found
    return {
        "type": "value_error",
        "loc": loc,
        "msg": f"Value error, {error}",
        "input": value,
        "ctx": {"error": str(error)},
    }


def run_check(check: Check, value: Any, loc: Loc, problems: list[Problem]) -> Any:
    """`check(value)`, or None with what it refused added to `problems` under `loc`."""
    try:
        return check(value)
    except SchemaError as nested:
        problems.extend({**problem, "loc": loc + problem["loc"]} for problem in nested.problems)
    except ValueError as error:
        problems.append(_problem(error, loc, value))
    return None


# The checks: each converts a decoded JSON value or raises Invalid. Numbers and flags are strict, as
# Go's encoding/json reads them: "3" is not a number and "true" is not true.


def string(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid("string_type", "Input should be a valid string", value)
    return value


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid("bool_type", "Input should be a valid boolean", value)
    return value


def anything(value: Any) -> Any:
    return value


def _bounded(value: Any, gt: float | None, ge: float | None, le: float | None) -> None:
    if gt is not None and not value > gt:
        raise Invalid("greater_than", f"Input should be greater than {_number(gt)}", value, {"gt": gt})
    if ge is not None and not value >= ge:
        raise Invalid(
            "greater_than_equal", f"Input should be greater than or equal to {_number(ge)}", value, {"ge": ge}
        )
    if le is not None and not value <= le:
        raise Invalid(
            "less_than_equal", f"Input should be less than or equal to {_number(le)}", value, {"le": le}
        )


def _number(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else str(bound)


def integer(*, gt: int | None = None, ge: int | None = None, le: int | None = None) -> Check:
    def check(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise Invalid("int_type", "Input should be a valid integer", value)
        _bounded(value, gt, ge, le)
        return value

    return check


def number(*, gt: float | None = None, ge: float | None = None) -> Check:
    """A float; a JSON integer is one too."""

    def check(value: Any) -> float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise Invalid("float_type", "Input should be a valid number", value)
        _bounded(value, gt, ge, None)
        return float(value)

    return check


def path(value: Any) -> Path:
    if isinstance(value, PurePath):
        return Path(value)
    if not isinstance(value, str):
        raise Invalid("path_type", "Input is not a valid path", value)
    return Path(value)


def literal(*options: str) -> Check:
    quoted = [repr(option) for option in options]
    expected = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"

    def check(value: Any) -> str:
        if value not in options or not isinstance(value, str):
            raise Invalid("literal_error", f"Input should be {expected}", value, {"expected": expected})
        return value

    return check


def nullable(check: Check) -> Check:
    """`check`, or None as it is."""

    def nullable_check(value: Any) -> Any:
        return None if value is None else check(value)

    return nullable_check


def then(check: Check, *after: Callable[[Any], Any]) -> Check:
    """`check`, then each of `after` on what it gave."""

    def composed(value: Any) -> Any:
        value = check(value)
        for step in after:
            value = step(value)
        return value

    return composed


def _items(item: Check, value: list[Any] | tuple[Any, ...]) -> list[Any]:
    # Lists are seldom refused: the items are tried as they are, and read again noting every problem
    # only when one was refused (a fifth of a typical CNI result's reading).
    try:
        return [item(element) for element in value]
    except ValueError:
        problems: list[Problem] = []
        for index, element in enumerate(value):
            run_check(item, element, (index,), problems)
        raise SchemaError(problems) from None


def list_of(item: Check) -> Check:
    def check(value: Any) -> list[Any]:
        if not isinstance(value, list | tuple):
            raise Invalid("list_type", "Input should be a valid list", value)
        return _items(item, value)

    return check


def tuple_of(item: Check) -> Check:
    """A JSON list of any length, as a tuple."""

    def check(value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise Invalid("tuple_type", "Input should be a valid tuple", value)
        return tuple(_items(item, value))

    return check


def dict_of(item: Check) -> Check:
    def check(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise Invalid("dict_type", "Input should be a valid dictionary", value)
        problems: list[Problem] = []
        checked = {key: run_check(item, element, (key,), problems) for key, element in value.items()}
        if problems:
            raise SchemaError(problems)
        return checked

    return check


any_dict = dict_of(anything)


def string_pair(value: Any) -> tuple[str, str]:
    """A two-string JSON list, as a tuple."""
    if not isinstance(value, list | tuple):
        raise Invalid("tuple_type", "Input should be a valid tuple", value)
    if len(value) > 2:
        raise Invalid(
            "too_long",
            f"Tuple should have at most 2 items after validation, not {len(value)}",
            value,
            {"field_type": "Tuple", "max_length": 2, "actual_length": len(value)},
        )
    problems: list[Problem] = []
    checked = [run_check(string, element, (index,), problems) for index, element in enumerate(value)]
    problems += [
        {"type": "missing", "loc": (index,), "msg": "Field required", "input": value}
        for index in range(len(value), 2)
    ]
    if problems:
        raise SchemaError(problems)
    return checked[0], checked[1]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class Field:
    """One key of a record: its check, its default (none: required), its JSON key when that is not the
    attribute's name, and `before`: a conversion run on the given value ahead of the check."""

    __slots__ = ("alias", "before", "check", "default", "factory")

    def __init__(
        self,
        check: Check,
        default: Any = MISSING,
        *,
        factory: Callable[[], Any] | None = None,
        alias: str | None = None,
        before: Callable[[Any], Any] | None = None,
    ) -> None:
        self.check, self.default, self.factory, self.alias, self.before = (
            check,
            default,
            factory,
            alias,
            before,
        )

    @property
    def required(self) -> bool:
        return self.default is MISSING and self.factory is None

    def default_value(self) -> Any:
        return self.factory() if self.factory is not None else self.default


def _read_fields(
    raw: Mapping[str, Any], fields: Mapping[str, Field], by_name: bool
) -> tuple[dict[str, Any], set[str], set[str], list[Problem]]:
    """Each of `fields` read from `raw`: the values by attribute name (defaults for those not there), the
    fields given, the keys used, and the problems found."""
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    given: set[str] = set()
    used: set[str] = set()
    for name, field in fields.items():
        key = field.alias or name
        value = raw.get(key, MISSING)
        if value is MISSING and by_name and field.alias is not None:
            key = name
            value = raw.get(name, MISSING)
        if value is MISSING:
            key = field.alias or name
            if field.factory is not None:
                values[name] = field.factory()
            elif field.default is MISSING:
                problems.append({"type": "missing", "loc": (key,), "msg": "Field required", "input": raw})
            else:
                values[name] = field.default
            continue
        used.add(key)
        given.add(name)
        if field.before is not None:
            try:
                value = field.before(value)
            except ValueError as error:
                problems.append(_problem(error, (key,), value))
                continue
        try:  # run_check's bookkeeping only for a value refused
            values[name] = field.check(value)
        except ValueError:
            run_check(field.check, value, (key,), problems)
    return values, given, used, problems


class Record:
    """A JSON object checked against `FIELDS` (attribute name → Field, in the object's order).

    `EXTRA` says what becomes of keys no field names: "ignore" drops them, "allow" keeps them in `extra`
    (and in `to_dict`), "forbid" refuses them. `BY_NAME` also accepts a field under its attribute name
    when its JSON key is another. `FROZEN` refuses assignment after validation. A subclass may define
    `check_record(self)`, run once every field passed, raising ValueError for a problem of the whole."""

    FIELDS: ClassVar[dict[str, Field]] = {}
    EXTRA: ClassVar[str] = "ignore"
    BY_NAME: ClassVar[bool] = False
    FROZEN: ClassVar[bool] = False

    given: frozenset[str]
    """The fields the object had (by name), as opposed to those that took their default."""
    extra: dict[str, Any]

    @classmethod
    def validate(cls, raw: object) -> Self:
        """The record for a decoded JSON object; SchemaError with every problem otherwise."""
        if isinstance(raw, cls):
            return raw
        if not isinstance(raw, Mapping):
            raise SchemaError(
                [
                    {
                        "type": "model_type",
                        "loc": (),
                        "msg": f"Input should be a valid dictionary or instance of {cls.__name__}",
                        "input": raw,
                        "ctx": {"class_name": cls.__name__},
                    }
                ]
            )
        values, given, used, problems = _read_fields(raw, cls.FIELDS, cls.BY_NAME)
        extra = {key: value for key, value in raw.items() if key not in used}
        if cls.EXTRA == "forbid":
            problems += [
                {
                    "type": "extra_forbidden",
                    "loc": (key,),
                    "msg": "Extra inputs are not permitted",
                    "input": value,
                }
                for key, value in extra.items()
            ]
        if problems:
            raise SchemaError(problems)
        record = cls._build(values, frozenset(given), extra if cls.EXTRA == "allow" else {})
        try:
            record.check_record()
        except SchemaError:
            raise
        except ValueError as error:
            raise SchemaError([_problem(error, (), raw)]) from None
        return record

    @classmethod
    def _build(cls, values: Mapping[str, Any], given: frozenset[str], extra: dict[str, Any]) -> Self:
        record = cls.__new__(cls)
        # Straight into its __dict__: a frozen record's __setattr__ refuses, and object.__setattr__ per
        # field costs several times as much.
        record.__dict__.update(values, given=given, extra=extra)
        return record

    @classmethod
    def make(cls, **values: Any) -> Self:
        """A record from attribute values (defaults for the rest), checked as if they had been given."""
        return cls.validate({(cls.FIELDS[name].alias or name): value for name, value in values.items()})

    def check_record(self) -> None:
        """Problems of the whole object, after each field passed: none unless a subclass says so."""

    def replace(self, **changes: Any) -> Self:
        """A copy with `changes` (attribute values, taken as they are) counted as given."""
        values = {name: getattr(self, name) for name in self.FIELDS} | changes
        return self._build(values, self.given | changes.keys(), dict(self.extra))

    def to_dict(self) -> dict[str, Any]:
        """The given fields under their JSON keys, then the kept unknown keys: the object as it came, in
        containers of its own (a caller may change it; records are shared between requests)."""
        out = {
            field.alias or name: _plain(getattr(self, name))
            for name, field in self.FIELDS.items()
            if name in self.given
        }
        return out | {key: _plain(value) for key, value in self.extra.items()}

    def dump(self) -> dict[str, Any]:
        """Every field under its attribute name, defaults included (nested records alike)."""
        return {name: _plain(getattr(self, name), by_name=True) for name in self.FIELDS}

    def to_json(self) -> str:
        """The whole record as compact JSON, for a file that keeps it: every field under its JSON key,
        defaults included, then the kept unknown keys, nested records alike."""
        return json.dumps(self, default=_by_alias, separators=(",", ":"), ensure_ascii=False)

    def __setattr__(self, name: str, value: Any) -> None:
        if self.FROZEN:
            raise AttributeError(f"{type(self).__name__} is frozen: {name} cannot be set")
        object.__setattr__(self, name, value)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.FIELDS) and (
            self.extra == other.extra
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.FIELDS)
        return f"{type(self).__name__}({shown})"


def _plain(value: Any, *, by_name: bool = False) -> Any:
    if isinstance(value, Record):
        return value.dump() if by_name else value.to_dict()
    if isinstance(value, list):
        return [_plain(item, by_name=by_name) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item, by_name=by_name) for key, item in value.items()}
    return value


def _by_alias(value: Any) -> dict[str, Any]:
    # json.dumps asks for each record it meets, so what a record holds is written without a copy.
    if not isinstance(value, Record):
        raise TypeError(f"{type(value).__name__} is not JSON")
    fields = {field.alias or name: getattr(value, name) for name, field in value.FIELDS.items()}
    return fields | value.extra


def dataclass_of(
    cls: type[D], checks: Mapping[str, Check], aliases: Mapping[str, str] | None = None
) -> Check:
    """A JSON object read into the dataclass `cls`, whose defaults are plain values: each field under
    its JSON key (`aliases` maps the attribute names that differ; the attribute's name is accepted too)
    through its check; unknown keys are ignored. For objects read so often that a Record in between
    would cost (a CNI result's interfaces, addresses and routes)."""
    name = cls.__name__
    fields = {
        each.name: Field(
            checks[each.name],
            MISSING if each.default is dataclasses.MISSING else each.default,
            alias=(aliases or {}).get(each.name),
        )
        for each in dataclasses.fields(cls)  # type: ignore[arg-type]
    }

    def check(value: Any) -> D:
        if not isinstance(value, Mapping):
            if isinstance(value, cls):
                return value
            raise Invalid(
                "dataclass_type",
                f"Input should be a dictionary or an instance of {name}",
                value,
                {"class_name": name},
            )
        values, _, _, problems = _read_fields(value, fields, by_name=True)
        if problems:
            raise SchemaError(problems)
        # Set as the dataclass's __init__ would: its object.__setattr__ per frozen field costs four
        # times as much, a third of reading a typical result.
        made = object.__new__(cls)
        made.__dict__.update(values)
        return made

    return check


def nested(record: type[R]) -> Check:
    """A record inside a record."""
    return record.validate


def field_names(records: Iterable[type[Record]]) -> set[str]:
    """Every JSON key the records declare."""
    return {field.alias or name for record in records for name, field in record.FIELDS.items()}
