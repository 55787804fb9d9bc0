"""Record classes: `dataclass`, `field` and `replace` without the start-up cost of `dataclasses`.

`dataclasses` imports `inspect` and compiles every generated method with `exec`. Over the ~45
record classes here that cost about 35 ms on every command, a third of a no-change run's
start-up. This module gives the same behaviour for the subset the project uses (frozen, slots,
eq, hash, repr, defaults, `default_factory`, `field(hash=False)`, `replace`) with plain
functions instead of generated source.

mypy sees the standard library's `dataclasses` (under TYPE_CHECKING), so type checking is
exactly that of dataclasses. `tests/unit/test_records.py` checks that both behave the same.
"""

from __future__ import annotations

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, which type checkers read by name; typing costs 2.5 ms
if TYPE_CHECKING:
    from dataclasses import FrozenInstanceError, dataclass, field, replace
    from typing import Any
else:
    _MISSING = object()

    class FrozenInstanceError(AttributeError):
        """Assigning to a field of a frozen record."""

    class _Field:
        __slots__ = ("compare", "default", "factory", "hash", "repr")

        def __init__(self, default: Any, factory: Any, hash: bool | None, compare: bool, repr: bool) -> None:
            if default is not _MISSING and factory is not _MISSING:
                raise ValueError("cannot specify both default and default_factory")
            self.default, self.factory, self.hash, self.compare, self.repr = default, factory, hash, compare, repr

    def field(
        *,
        default: Any = _MISSING,
        default_factory: Any = _MISSING,
        hash: bool | None = None,
        compare: bool = True,
        repr: bool = True,
    ) -> Any:
        return _Field(default, default_factory, hash, compare, repr)

    def dataclass(cls: type | None = None, /, *, frozen: bool = False, slots: bool = False, eq: bool = True) -> Any:
        def wrap(c: type) -> type:
            return _make(c, frozen=frozen, slots=slots, eq=eq)

        return wrap if cls is None else wrap(cls)

    def replace(obj: Any, /, **changes: Any) -> Any:
        names = getattr(type(obj), "__record_fields__", None)
        if names is None:
            raise TypeError("replace() should be called on record instances")
        for name in changes:
            if name not in names:
                raise TypeError(f"{type(obj).__name__}.__init__() got an unexpected keyword argument '{name}'")
        return type(obj)(**{name: changes[name] if name in changes else getattr(obj, name) for name in names})

    def _make(cls: type, *, frozen: bool, slots: bool, eq: bool) -> type:
        namespace = dict(cls.__dict__)
        annotations = namespace.get("__annotations__", {})
        names = tuple(n for n, a in annotations.items() if not str(a).startswith(("ClassVar", "typing.ClassVar")))
        specs: list[tuple[str, Any, Any]] = []
        compared: list[str] = []
        hashed: list[str] = []
        shown: list[str] = []
        seen_default = False
        for name in names:
            value = namespace.get(name, _MISSING)
            spec = value if isinstance(value, _Field) else _Field(value, _MISSING, None, True, True)
            if isinstance(value, _Field):
                if spec.default is _MISSING:
                    namespace.pop(name, None)
                else:
                    namespace[name] = spec.default
            if spec.factory is not _MISSING and not callable(spec.factory):
                raise TypeError(f"{cls.__name__}.{name}: default_factory must be callable")
            if spec.default is not _MISSING and type(spec.default) in (list, dict, set):
                raise ValueError(f"mutable default {type(spec.default)} for field {name} is not allowed: "
                                 "use default_factory")  # fmt: skip
            has_default = spec.default is not _MISSING or spec.factory is not _MISSING
            if seen_default and not has_default:
                raise TypeError(f"non-default argument '{name}' follows default argument")
            seen_default = seen_default or has_default
            specs.append((name, spec.default, spec.factory))
            if spec.compare:
                compared.append(name)
                if spec.hash is None or spec.hash:
                    hashed.append(name)
            elif spec.hash:
                hashed.append(name)
            if spec.repr:
                shown.append(name)

        if slots:
            if "__slots__" in namespace:
                raise TypeError(f"{cls.__name__} already specifies __slots__")
            for name in names:
                namespace.pop(name, None)  # a slot and a class attribute of one name cannot coexist
            namespace["__slots__"] = names
            namespace.pop("__dict__", None)
            namespace.pop("__weakref__", None)

        own = cls.__dict__  # methods the class writes itself are kept, as dataclasses does
        namespace["__record_fields__"] = names
        namespace["__init__"] = _init(cls.__name__, names, tuple(specs))
        if "__repr__" not in own:
            namespace["__repr__"] = _repr(tuple(shown))
        if eq:
            if "__eq__" not in own:
                namespace["__eq__"] = _eq(tuple(compared))
            explicit_hash = own.get("__hash__", None) is not None
            if frozen and not explicit_hash:
                namespace["__hash__"] = _hash(tuple(hashed))
            elif not explicit_hash:
                namespace["__hash__"] = None  # mutable and comparable: unhashable, as dataclasses does
        if frozen:
            namespace["__setattr__"] = _frozen_setattr
            namespace["__delattr__"] = _frozen_delattr
            if slots:
                namespace["__getstate__"] = _getstate
                namespace["__setstate__"] = _setstate
        if not slots:  # change the class in place, as dataclasses does
            for name in names:
                if name not in namespace and name in own:
                    delattr(cls, name)
            for name, value in namespace.items():
                if name not in ("__dict__", "__weakref__") and own.get(name, _MISSING) is not value:
                    setattr(cls, name, value)
            return cls
        made = type(cls)(cls.__name__, cls.__bases__, namespace)
        made.__qualname__ = cls.__qualname__
        return made

    def _init(owner: str, names: tuple[str, ...], specs: tuple[tuple[str, Any, Any], ...]) -> Any:
        count = len(names)
        setter = object.__setattr__

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            if not kwargs and len(args) == count:
                for name, value in zip(names, args):  # noqa: B905 - lengths checked above
                    setter(self, name, value)
                return
            if len(args) > count:
                raise TypeError(f"{owner}.__init__() takes {count + 1} positional arguments but "
                                f"{len(args) + 1} were given")  # fmt: skip
            for name, value in zip(names, args):  # noqa: B905 - args is the shorter
                if name in kwargs:
                    raise TypeError(f"{owner}.__init__() got multiple values for argument '{name}'")
                setter(self, name, value)
            used = 0
            for name, default, factory in specs[len(args) :]:
                if name in kwargs:
                    value = kwargs[name]
                    used += 1
                elif default is not _MISSING:
                    value = default
                elif factory is not _MISSING:
                    value = factory()
                else:
                    raise TypeError(f"{owner}.__init__() missing 1 required positional argument: '{name}'")
                setter(self, name, value)
            if used != len(kwargs):
                unknown = next(k for k in kwargs if k not in names)
                raise TypeError(f"{owner}.__init__() got an unexpected keyword argument '{unknown}'")

        return __init__

    def _repr(names: tuple[str, ...]) -> Any:
        def __repr__(self: Any) -> str:
            inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
            return f"{type(self).__qualname__}({inner})"

        return __repr__

    def _eq(names: tuple[str, ...]) -> Any:
        def __eq__(self: Any, other: object) -> Any:
            if other.__class__ is not self.__class__:
                return NotImplemented
            return tuple(getattr(self, n) for n in names) == tuple(getattr(other, n) for n in names)

        return __eq__

    def _hash(names: tuple[str, ...]) -> Any:
        def __hash__(self: Any) -> int:
            return hash(tuple(getattr(self, n) for n in names))

        return __hash__

    def _frozen_setattr(self: Any, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field '{name}'")

    def _frozen_delattr(self: Any, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field '{name}'")

    def _getstate(self: Any) -> list[Any]:
        return [getattr(self, n) for n in type(self).__record_fields__]

    def _setstate(self: Any, state: list[Any]) -> None:
        for name, value in zip(type(self).__record_fields__, state):  # noqa: B905
            object.__setattr__(self, name, value)


__all__ = ["FrozenInstanceError", "dataclass", "field", "replace"]
