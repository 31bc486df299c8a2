"""Old spellings kept working for a release, with a DeprecationWarning."""

from __future__ import annotations

import warnings
import weakref

# Parameter arrays a model's ``params`` handed out, by data address, to the native block
# that owns them: an optimizer given ``model.params.values()`` finds the blocks back.
_OWNERS: "weakref.WeakValueDictionary" = weakref.WeakValueDictionary()


def _address(a) -> int:
    return a.__array_interface__["data"][0]


def param_owner(a):
    """The native block whose parameter ``a`` is (an array from a model's ``params``),
    or None."""
    try:
        return _OWNERS.get(_address(a))
    except (AttributeError, TypeError, KeyError):
        return None


class ParamDict(dict):
    """What ``Model.params`` and ``Model.grads`` return: the dict of arrays they always
    gave. Calling it, the old spelling ``model.params()``, still gives the same dict
    but warns: ``params`` and ``grads`` are properties now, as on a block."""

    __slots__ = ("_what", "owner")

    def __init__(self, items, what: str, owner=None, cores=()):
        super().__init__(items)
        self._what = what
        self.owner = owner  # the model (an optimizer takes ``model.params`` for it)
        for a, core in cores:  # (array, native block): see param_owner
            _OWNERS[_address(a)] = core

    def __call__(self):
        warnings.warn(
            f"model.{self._what}() is deprecated and will be removed in the next release: "
            f"{self._what} is a property, as on a block; write model.{self._what} (no call)",
            DeprecationWarning,
            stacklevel=2,
        )
        return self

    def __reduce__(self):  # pickles and copies as the plain dict it stands for
        return dict, (dict(self),)
