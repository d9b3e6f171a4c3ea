"""Discovery of the public estimators."""

from importlib import import_module
from inspect import isclass

from sklearn.base import BaseEstimator

_TYPE_MIXINS = {
    "classifier": "ClassifierMixin",
    "regressor": "RegressorMixin",
    "transformer": "TransformerMixin",
}


def all_estimators(type_filter=None):
    """List the public sk_eeg estimators.

    Importing them loads each method's subpackage, including the torch-based
    ones, so the deep extras must be installed.

    Parameters
    ----------
    type_filter : {"classifier", "regressor", "transformer"} | list | None
        Keep only estimators of these kinds; None keeps all.

    Returns
    -------
    estimators : list of (str, type)
        ``(name, class)`` pairs sorted by name.
    """
    import sklearn.base as skbase

    from sk_eeg import _PUBLIC_API

    if isinstance(type_filter, str):
        type_filter = [type_filter]
    estimators = []
    for name, module in sorted(_PUBLIC_API.items()):
        obj = getattr(import_module(module), name)
        if not (isclass(obj) and issubclass(obj, BaseEstimator)):
            continue
        if type_filter is not None and not any(
            issubclass(obj, getattr(skbase, _TYPE_MIXINS[kind])) for kind in type_filter
        ):
            continue
        estimators.append((name, obj))
    return estimators
