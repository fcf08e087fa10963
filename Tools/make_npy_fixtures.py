#!/usr/bin/env python3
"""Write the small .npy arrays the `dfc compare` tests read (Fixtures/npy), with NumPy itself.

Usage: python3 Tools/make_npy_fixtures.py [OUT_DIR]   (default Fixtures/npy)

The same 2x6 values in several dtypes and byte orders, and copies holding NaN and infinities
at known places, so the tests check dfc's reading of files NumPy wrote, not of its own writer.
"""

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "Fixtures", "npy")
    os.makedirs(out, exist_ok=True)
    values = np.arange(12, dtype=np.float64).reshape(2, 6) * 1.5 - 4
    arrays = {
        "values_f32": values.astype("<f4"),
        "values_f64": values.astype("<f8"),
        "values_f64_big": values.astype(">f8"),
        "values_f16": values.astype("<f2"),
        # The integers of values, rounded toward zero, in every width and signedness.
        "ints_i64": values.astype("<i8"),
        "ints_i32": values.astype("<i4"),
        "ints_i16_big": values.astype(">i2"),
        "ints_i8": values.astype("i1"),
        "small_u8": np.abs(values).astype("u1"),
        "small_u16": np.abs(values).astype("<u2"),
        "small_f32": np.abs(values).astype(np.int64).astype("<f4"),
        "complex_c8": values.astype("<c8"),
    }
    with_nan = values.astype("<f4")
    with_nan[0, 5] = with_nan[1, 0] = with_nan[1, 3] = np.nan
    arrays["nan3_f32"] = with_nan
    with_inf = values.astype("<f8")
    with_inf[1, 2] = np.inf
    arrays["inf1_f64"] = with_inf
    for name, array in arrays.items():
        np.save(os.path.join(out, name + ".npy"), array)


if __name__ == "__main__":
    main()
