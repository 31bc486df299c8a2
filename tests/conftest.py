import numpy as np
import pytest

import bricks as bk

# Tests run with one BLAS thread (shared, noisy machines; deterministic sums).
bk.set_num_threads(1)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
