"""Building the quote's models from values the router computed itself.

A quote has a few dozen models (legs, paths, exclusions, costs). Their values are
exact integers and objects taken from the validated request and snapshot, so they
are not validated again: :func:`build` does what ``model_construct`` does for a
model whose every field is given by name (the instance's ``__dict__`` is the
values), without its per-field alias and default handling, which costs more than
the rest of assembling the quote. Anything else (a field left to its default, a
model with aliases, extras, a post-init hook or a root) goes through
``model_construct``.
"""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel

__all__ = ["build", "replaced"]

_M = TypeVar("_M", bound=BaseModel)
_set = object.__setattr__


@cache
def _plain(cls: type[BaseModel]) -> int:
    """The number of fields of ``cls`` if it can be built from its fields alone, else -1."""
    fields = cls.__pydantic_fields__
    if (
        cls.__pydantic_root_model__
        or cls.__pydantic_post_init__
        or cls.model_config.get("extra") == "allow"
        or any(f.alias is not None or f.validation_alias is not None for f in fields.values())
    ):
        return -1
    return len(fields)


def build(cls: type[_M], **values: Any) -> _M:
    """``cls.model_construct(**values)``, faster when ``values`` names every field."""
    if len(values) != _plain(cls) or not values.keys() <= cls.__pydantic_fields__.keys():
        return cls.model_construct(**values)
    m = cls.__new__(cls)
    _set(m, "__dict__", values)
    _set(m, "__pydantic_fields_set__", set(values))
    _set(m, "__pydantic_extra__", None)
    _set(m, "__pydantic_private__", None)
    return m


def replaced(model: _M, **changes: Any) -> _M:
    """``model.model_copy(update=changes)`` for values of the right types, without the
    generic copy's per-field work: the copy's ``__dict__`` is the original's with
    ``changes`` applied."""
    cls = type(model)
    if not changes.keys() <= cls.__pydantic_fields__.keys():
        return model.model_copy(update=changes)
    m = cls.__new__(cls)
    _set(m, "__dict__", {**model.__dict__, **changes})
    _set(m, "__pydantic_fields_set__", model.__pydantic_fields_set__ | changes.keys())
    _set(m, "__pydantic_extra__", model.__pydantic_extra__)
    _set(m, "__pydantic_private__", model.__pydantic_private__)
    return m
