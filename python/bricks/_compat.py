"""Old spellings kept working for a release, with a DeprecationWarning."""

from __future__ import annotations

import warnings


class ParamDict(dict):
    """What ``Model.params`` and ``Model.grads`` return: the dict of arrays they always
    gave. Calling it, the old spelling ``model.params()``, still gives the same dict
    but warns: ``params`` and ``grads`` are properties now, as on a block."""

    __slots__ = ("_what",)

    def __init__(self, items, what: str):
        super().__init__(items)
        self._what = what

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
