"""Random state handling for NumPy and torch."""

import numpy as np
from sklearn.utils import check_random_state as _sk_check_random_state

_MAX_SEED = 2**31 - 1


def check_random_state(random_state):
    """Turn ``random_state`` into a :class:`numpy.random.RandomState`.

    Parameters
    ----------
    random_state : int | RandomState | Generator | None
        None uses NumPy's global state; an int seeds a new one; a
        :class:`numpy.random.Generator` seeds a new RandomState from itself.

    Returns
    -------
    rng : numpy.random.RandomState
        The random state.
    """
    if isinstance(random_state, np.random.Generator):
        return np.random.RandomState(random_state.integers(_MAX_SEED))
    return _sk_check_random_state(random_state)


def spawn_seeds(random_state, n_seeds):
    """Draw ``n_seeds`` independent integer seeds from ``random_state``.

    All seeds are drawn in the calling process, so work split across jobs is
    identical for any ``n_jobs`` and joblib backend.

    Parameters
    ----------
    random_state : int | RandomState | Generator | None
        Source of randomness.
    n_seeds : int
        How many seeds.

    Returns
    -------
    seeds : ndarray of int64, shape (n_seeds,)
        The seeds.
    """
    rng = check_random_state(random_state)
    return rng.randint(0, _MAX_SEED, size=n_seeds, dtype=np.int64)


def check_torch_generator(random_state, device="cpu"):
    """Return a seeded :class:`torch.Generator` on ``device`` and its seed.

    Parameters
    ----------
    random_state : int | RandomState | Generator | None
        Source of randomness; None draws a fresh seed from NumPy's global state.
    device : str | torch.device
        Device of the generator.

    Returns
    -------
    generator : torch.Generator
        The seeded generator.
    seed : int
        The seed used, so that a run can be repeated.
    """
    from ._optional import import_optional_dependency

    torch = import_optional_dependency("torch")
    seed = int(spawn_seeds(random_state, 1)[0])
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator, seed
