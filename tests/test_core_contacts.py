"""core.contacts.debounce: the vectorised run flip against the run-by-run definition."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from core.contacts import debounce


def _debounce_runs(mask: np.ndarray, min_len: int) -> np.ndarray:
    """The definition: walk the input's runs; flip each interior run shorter than min_len."""
    out = mask.copy()
    start = 0
    while start < len(mask):
        stop = start
        while stop < len(mask) and mask[stop] == mask[start]:
            stop += 1
        if stop - start < min_len and start > 0 and stop < len(mask):
            out[start:stop] = not mask[start]
        start = stop
    return out


def test_debounce_examples():
    m = np.array([1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0], dtype=bool)
    # the 1-frame runs flip, the 3-frame gap stays, the edge runs are never flipped
    assert debounce(m, 2).astype(int).tolist() == [1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    # every interior run is judged as it was in the input: all four short ones flip
    assert debounce(m, 4).astype(int).tolist() == [1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0]
    assert debounce(np.zeros(0, dtype=bool), 3).shape == (0,)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.booleans(), max_size=60), st.integers(0, 8))
def test_debounce_matches_run_definition(bits, min_len):
    m = np.array(bits, dtype=bool)
    assert np.array_equal(debounce(m, min_len), _debounce_runs(m, min_len))
