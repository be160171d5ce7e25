"""The safe format in which a submission hands its answers to the tests: JSON, never pickle.

The student's code runs in a sandbox; the tests run in another interpreter. What crosses
between them is data only: numbers (Python and NumPy scalars, NaN and infinities included),
strings, booleans, ``None``, lists, tuples and dicts of those, NumPy arrays of numbers,
booleans, strings or datetimes, and pandas Series, Index and DataFrames built from those.
Everything else (a fitted model, a function, a module) is refused with the reason, so reading
a file this module wrote can only ever produce such plain data.

>>> import numpy as np
>>> decode(json.loads(json.dumps(encode({"x": np.float64(2.5), "v": np.arange(3)}))))
{'x': np.float64(2.5), 'v': array([0, 1, 2])}

This module imports nothing but the standard library at import time (NumPy and pandas only
when a value needs them): the sandbox loads it from its file into a student's kernel.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

#: the largest export file the grader reads (bytes)
MAX_BYTES = 32 * 2**20
#: how deeply lists, dicts and tuples may nest
MAX_DEPTH = 20
#: NumPy dtype kinds that travel: bool, signed, unsigned, float, complex, str, datetime, timedelta
_KINDS = "biufcUMm"


class ExportError(ValueError):
    """A value that cannot be exported (the message says what it is and what would do)."""


def describe(value: object) -> str:
    kind = type(value)
    return f"a {kind.__module__}.{kind.__qualname__}".replace("builtins.", "")


def encode(value: object, depth: int = 0) -> Any:
    """``value`` as JSON-ready data, tagged so that :func:`decode` rebuilds its type."""
    if depth > MAX_DEPTH:
        raise ExportError(f"it nests more than {MAX_DEPTH} levels deep")
    module = type(value).__module__.split(".")[0]
    if module == "numpy":
        return _encode_numpy(value)
    if module == "pandas":
        return _encode_pandas(value, depth)
    if value is None or isinstance(value, bool | str):
        return str(value) if isinstance(value, str) else value
    if isinstance(value, int):
        value = int(value)
        return value if abs(value) < 2**63 else {"__int__": str(value)}
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, complex):
        value = complex(value)
        return {"__complex__": [_float(value.real), _float(value.imag)]}
    if isinstance(value, list | tuple):
        items = [encode(v, depth + 1) for v in value]
        return items if isinstance(value, list) else {"__tuple__": items}
    if isinstance(value, dict):
        pairs = [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]
        return {"__dict__": pairs}
    raise ExportError(
        f"it is {describe(value)}, which cannot be graded; store numbers, strings, "
        "arrays or data frames"
    )


def _float(value: float) -> Any:
    value = float(value)
    return value if math.isfinite(value) else {"__float__": repr(value)}


def _encode_numpy(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return {"__scalar__": _encode_array(np.asarray(value))}
    if isinstance(value, np.ndarray):
        return {"__array__": _encode_array(value)}
    raise ExportError(f"it is {describe(value)}, which cannot be graded")


def _encode_array(array: Any) -> dict:
    import numpy as np

    if array.dtype.kind == "O":
        items = array.ravel().tolist()
        if not all(isinstance(v, str) for v in items):
            raise ExportError("it is an array of Python objects; only numbers and strings travel")
        return {"dtype": "object", "shape": list(array.shape), "data": items}
    if array.dtype.kind not in _KINDS or array.dtype.fields is not None:
        raise ExportError(f"its dtype {array.dtype} cannot be graded")
    if array.dtype.kind in "Mm":
        data = array.view(np.int64).ravel().tolist()
    elif array.dtype.kind == "c":
        data = [[_float(v.real), _float(v.imag)] for v in array.ravel().tolist()]
    elif array.dtype.kind == "f":
        data = [_float(v) for v in array.ravel().tolist()]
    else:
        data = array.ravel().tolist()
    return {"dtype": array.dtype.str, "shape": list(array.shape), "data": data}


def _encode_pandas(value: Any, depth: int) -> Any:
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        return {
            "__frame__": {
                "columns": _encode_pandas(value.columns, depth + 1),
                "index": _encode_pandas(value.index, depth + 1),
                "data": [_encode_column(value.iloc[:, i]) for i in range(value.shape[1])],
            }
        }
    if isinstance(value, pd.Series):
        return {
            "__series__": {
                "data": _encode_column(value),
                "index": _encode_pandas(value.index, depth + 1),
                "name": encode(value.name, depth + 1),
            }
        }
    if isinstance(value, pd.MultiIndex):
        levels = [
            _encode_pandas(value.get_level_values(i), depth + 1) for i in range(value.nlevels)
        ]
        return {"__multiindex__": levels}
    if isinstance(value, pd.Index):
        return {"__index__": {"data": _encode_column(value), "name": encode(value.name, depth + 1)}}
    if isinstance(value, pd.Timestamp | pd.Timedelta):
        return {"__" + type(value).__name__.lower() + "__": value.isoformat()}
    raise ExportError(f"it is {describe(value)}, which cannot be graded")


def _encode_column(values: Any) -> dict:
    """A Series' or Index's values; categoricals keep their categories."""
    import numpy as np
    import pandas as pd

    if isinstance(values.dtype, pd.CategoricalDtype):
        cat = values.array
        return {
            "categorical": _encode_array(np.asarray(cat.categories)),
            "codes": cat.codes.tolist(),
            "ordered": bool(cat.ordered),
        }
    array = np.asarray(values)
    if array.dtype.kind == "O":  # strings, possibly with missing values
        items = array.tolist()
        if all(isinstance(v, str) or v is None or (isinstance(v, float) and v != v) for v in items):
            return {"strings": [v if isinstance(v, str) else None for v in items]}
    return _encode_array(array)


# --- decoding: the grader's side; only builds plain data, never calls a constructor by name ---


def decode(data: Any, depth: int = 0) -> Any:
    """Rebuild a value from :func:`encode`'s output (raise ValueError on anything else)."""
    if depth > MAX_DEPTH + 5:
        raise ValueError("nested too deeply")
    if data is None or isinstance(data, bool | int | float | str):
        return data
    if isinstance(data, list):
        return [decode(v, depth + 1) for v in data]
    if not isinstance(data, dict) or len(data) != 1:
        raise ValueError("not an exported value")
    ((tag, body),) = data.items()
    if tag == "__tuple__":
        return tuple(decode(v, depth + 1) for v in _list(body))
    if tag == "__dict__":
        pairs = [_pair(p) for p in _list(body)]
        return {decode(k, depth + 1): decode(v, depth + 1) for k, v in pairs}
    if tag == "__int__":
        return int(str(body))
    if tag == "__float__":
        return float(str(body))
    if tag == "__complex__":
        re, im = _list(body)
        return complex(_number(re), _number(im))
    if tag == "__scalar__":
        return _decode_array(body)[()]
    if tag == "__array__":
        return _decode_array(body)
    return _decode_pandas(tag, body, depth)


def _list(body: Any) -> list:
    if not isinstance(body, list):
        raise ValueError("expected a list")
    return body


def _pair(item: Any) -> list:
    if not isinstance(item, list) or len(item) != 2:
        raise ValueError("expected a key and a value")
    return item


def _number(value: Any) -> float:
    if isinstance(value, dict):
        value = decode(value)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError("expected a number")
    return float(value)


def _decode_array(body: Any) -> Any:
    import numpy as np

    if not isinstance(body, dict) or set(body) != {"dtype", "shape", "data"}:
        raise ValueError("not an exported array")
    shape = tuple(int(n) for n in _list(body["shape"]))
    data = _list(body["data"])
    if body["dtype"] == "object":
        if not all(isinstance(v, str) for v in data):
            raise ValueError("object arrays hold strings only")
        array = np.empty(len(data), dtype=object)
        array[:] = data
        return array.reshape(shape)
    dtype = np.dtype(str(body["dtype"]))
    if dtype.kind not in _KINDS or dtype.fields is not None:
        raise ValueError(f"dtype {dtype} is not allowed")
    if dtype.kind in "Mm":
        return np.array(data, dtype=np.int64).view(dtype).reshape(shape)
    if dtype.kind == "c":
        return np.array([complex(_number(r), _number(i)) for r, i in data], dtype=dtype).reshape(
            shape
        )
    if dtype.kind == "f":
        data = [_number(v) for v in data]
    return np.array(data, dtype=dtype).reshape(shape)


def _decode_column(body: Any) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(body, dict) and "strings" in body:
        values = _list(body["strings"])
        if not all(v is None or isinstance(v, str) for v in values):
            raise ValueError("expected strings")
        array = np.empty(len(values), dtype=object)
        array[:] = [np.nan if v is None else v for v in values]
        return array
    if isinstance(body, dict) and "categorical" in body:
        categories = _decode_array(body["categorical"])
        codes = [int(c) for c in _list(body["codes"])]
        return pd.Categorical.from_codes(codes, categories, ordered=bool(body["ordered"]))
    return _decode_array(body)


def _decode_pandas(tag: str, body: Any, depth: int) -> Any:
    import pandas as pd

    if not isinstance(body, dict | list | str):
        raise ValueError("not an exported value")
    if tag == "__timestamp__":
        return pd.Timestamp(str(body))
    if tag == "__timedelta__":
        return pd.Timedelta(str(body))
    if tag == "__multiindex__":
        return pd.MultiIndex.from_arrays([_decode_index(b, depth) for b in _list(body)])
    if tag == "__index__":
        return _decode_index({"__index__": body}, depth)
    if tag == "__series__":
        return pd.Series(
            _decode_column(body["data"]),
            index=_decode_index(body["index"], depth),
            name=decode(body["name"], depth + 1),
        )
    if tag == "__frame__":
        columns = _decode_index(body["columns"], depth)
        index = _decode_index(body["index"], depth)
        data = [_decode_column(c) for c in _list(body["data"])]
        if len(data) != len(columns):
            raise ValueError("a data frame's columns do not match its data")
        frame = pd.DataFrame(dict(enumerate(data)), index=index)
        frame.columns = columns
        return frame
    raise ValueError(f"unknown tag {tag!r}")


def _decode_index(data: Any, depth: int) -> Any:
    import pandas as pd

    if isinstance(data, dict) and "__multiindex__" in data:
        return _decode_pandas("__multiindex__", data["__multiindex__"], depth + 1)
    if not isinstance(data, dict) or "__index__" not in data:
        raise ValueError("expected an index")
    body = data["__index__"]
    return pd.Index(_decode_column(body["data"]), name=decode(body["name"], depth + 1))


# --- the two ends: export (in the student's kernel) and load (in the trusted interpreter) ---


def export(path: str, names: list[str], namespace: dict) -> None:
    """Write the values of ``names`` in ``namespace`` to ``path`` (with why any could not go).

    The file is ``{"values": {name: encoded}, "problems": {name: reason}}``; a name that is
    not defined, or whose value cannot be encoded, is a problem, not an error.
    """
    values, problems = {}, {}
    for name in names:
        if name not in namespace:
            problems[name] = f"{name} is not defined"
            continue
        try:
            values[name] = encode(namespace[name])
        except ExportError as exc:
            problems[name] = f"{name} could not be handed to the tests: {exc}"
        except RecursionError:
            problems[name] = f"{name} could not be handed to the tests: it nests too deeply"
    text = json.dumps({"values": values, "problems": problems}, allow_nan=False)
    temporary = f"{path}.part"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


def load(path: str | Path) -> tuple[dict[str, Any], dict[str, str]]:
    """Read an export file: (values by name, problems by name); raise ValueError if broken."""
    import stat

    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)  # a link planted by the student: refused
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("the exported values are not a plain file")
        if info.st_size > MAX_BYTES:
            raise ValueError(f"the exported values take more than {MAX_BYTES // 2**20} MiB")
        raw = handle.read(MAX_BYTES + 1)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"the exported values are not valid JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict) or set(data) != {"values", "problems"}:
        raise ValueError("the exported values are not in the grader's format")
    values, problems = data["values"], data["problems"]
    if not isinstance(values, dict) or not isinstance(problems, dict):
        raise ValueError("the exported values are not in the grader's format")
    try:
        decoded = {str(name): decode(value) for name, value in values.items()}
    except Exception as exc:  # any malformed part: the file is not trusted
        raise ValueError(f"the exported values are broken ({type(exc).__name__})") from None
    return decoded, {str(k): str(v) for k, v in problems.items()}
