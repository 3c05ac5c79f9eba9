"""Request and response bodies: the Open Inference Protocol V2 (JSON, and its binary tensor
extension) and the MLflow scoring protocol (``dataframe_split``, ``dataframe_records``,
``instances``, ``inputs``, ``text/csv``), to and from ``Inputs`` and ``Outputs``.

Decoding checks what the protocol itself says (JSON, datatypes, shapes, element counts);
``ServedModel.check`` then checks the result against the model's signature."""

from __future__ import annotations

import csv
import io
import math
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from modelcycle.exceptions import InvalidInput

if TYPE_CHECKING:
    from modelcycle.serving.runtime import Inputs, Outputs, ServedModel

V2_DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(bool),
    "UINT8": np.dtype("<u1"), "UINT16": np.dtype("<u2"), "UINT32": np.dtype("<u4"), "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"), "INT16": np.dtype("<i2"), "INT32": np.dtype("<i4"), "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"), "FP32": np.dtype("<f4"), "FP64": np.dtype("<f8"),
    "BYTES": np.dtype(object),
}
# What JSON data each datatype takes (numpy kinds of the array JSON data makes).
_V2_KINDS = {"BOOL": "b", "BYTES": "US"} | {t: "iu" for t in V2_DTYPES if "INT" in t} | {
    t: "iuf" for t in ("FP16", "FP32", "FP64")}
SIGNATURE_TO_V2 = {"boolean": "BOOL", "integer": "INT32", "long": "INT64", "float": "FP32", "double": "FP64",
                   "string": "BYTES", "datetime": "BYTES"}
_JSON = orjson.OPT_SERIALIZE_NUMPY
_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_MAX_ELEMENTS = 2**50  # far beyond any body, and within what numpy can shape (in bytes, too)


def loads(body: bytes, what: str = "The request body") -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc}.") from None


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, option=_JSON)


def v2_datatype(dtype: np.dtype) -> str:
    kind = dtype.kind
    if kind == "b":
        return "BOOL"
    if kind in "iuf":
        return ("FP" if kind == "f" else "UINT" if kind == "u" else "INT") + str(dtype.itemsize * 8)
    return "BYTES"


# ---------------------------------------------------------------------- V2 requests
@dataclass
class V2Request:
    id: str | None
    inputs: Inputs
    outputs: list[str] | None  # None: every output of the model
    binary_outputs: set[str]  # outputs to send with the binary tensor extension
    parameters: dict


MAX_DIMENSIONS = 64  # numpy's limit


def _shape(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                              for s in value):
        raise InvalidInput(f"{where}: 'shape' must be a list of sizes (whole numbers >= 0); got {value!r}.")
    if len(value) > MAX_DIMENSIONS:
        raise InvalidInput(f"{where}: a tensor has at most {MAX_DIMENSIONS} dimensions; got {len(value)}.")
    if math.prod(s or 1 for s in value) > _MAX_ELEMENTS:  # numpy refuses such shapes even with a size 0 in them
        raise InvalidInput(f"{where}: shape {value!r} is too large for any tensor.")
    return tuple(value)


def _bytes_elements(buffer: memoryview, count: int, where: str) -> np.ndarray:
    """BYTES in the binary extension: each element is a 4-byte little-endian length, then its bytes."""
    out = np.empty(count, dtype=object)
    offset = 0
    for i in range(count):
        if offset + 4 > len(buffer):
            raise InvalidInput(f"{where}: the binary data ends before element {i} of {count}.")
        (size,) = struct.unpack_from("<I", buffer, offset)
        offset += 4
        if offset + size > len(buffer):
            raise InvalidInput(f"{where}: element {i} claims {size} bytes, more than the binary data holds.")
        element = bytes(buffer[offset:offset + size])
        offset += size
        try:
            out[i] = element.decode("utf-8")
        except UnicodeDecodeError:
            out[i] = element
    if offset != len(buffer):
        raise InvalidInput(f"{where}: the binary data holds {len(buffer) - offset} bytes past its {count} elements.")
    return out


def _binary_tensor(buffer: memoryview, datatype: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    count = math.prod(shape)
    if datatype == "BYTES":
        return _bytes_elements(buffer, count, where).reshape(shape)
    dtype = V2_DTYPES[datatype]
    if len(buffer) != count * dtype.itemsize:
        raise InvalidInput(f"{where}: shape {list(shape)} of {datatype} takes {count * dtype.itemsize} bytes; "
                           f"binary_data_size is {len(buffer)}.")
    array = np.frombuffer(buffer, dtype=np.uint8 if datatype == "BOOL" else dtype).reshape(shape)
    if datatype == "BOOL":
        if (array > 1).any():
            raise InvalidInput(f"{where}: BOOL binary data holds bytes other than 0 and 1.")
        array = array.astype(bool)
    return array


def _json_tensor(data: Any, datatype: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    if not isinstance(data, list):
        data = [data]
    try:
        array = np.asarray(data)
    except (ValueError, TypeError):
        raise InvalidInput(f"{where}: 'data' must be a flat list of {datatype} values, or nested lists of one "
                           "length per level.") from None
    count = math.prod(shape)
    if array.size != count:
        raise InvalidInput(f"{where}: shape {list(shape)} takes {count} values; 'data' has {array.size}.")
    kind = array.dtype.kind
    if count and kind not in _V2_KINDS[datatype]:
        if kind == "O":
            bad = next((v for v in array.ravel() if v is None or isinstance(v, (list, dict))), None)
            got = "null" if bad is None else "nested values of uneven lengths" if isinstance(bad, list) else "objects"
        else:
            got = {"b": "booleans", "U": "strings", "f": "fractional numbers"}.get(kind, str(array.dtype))
        raise InvalidInput(f"{where}: datatype {datatype} takes {_kind_text(datatype)}; 'data' has {got} "
                           f"(values like {', '.join(repr(v) for v in array.ravel()[:3].tolist())}).")
    dtype = V2_DTYPES[datatype]
    if datatype == "BYTES":
        return array.reshape(shape)
    if kind in "iu" and dtype.kind in "iu" and count and array.dtype != dtype:
        info = np.iinfo(dtype)
        low, high = array.min(), array.max()
        if low < info.min or high > info.max:
            raise InvalidInput(f"{where}: {datatype} holds {info.min} to {info.max}; 'data' has "
                               f"{(low if low < info.min else high).item()}.")
    if array.dtype == dtype:
        return array.reshape(shape)
    with np.errstate(over="ignore"):
        converted = array.astype(dtype)
    if dtype.kind == "f" and not np.isfinite(converted).all():
        beyond = ~np.isfinite(converted) & np.isfinite(array)
        if beyond.any():
            raise InvalidInput(f"{where}: {datatype} holds up to ±{np.finfo(dtype).max:.5g}; 'data' has "
                               f"{array.ravel()[np.flatnonzero(beyond.ravel())[0]].item()!r}.")
    return converted.reshape(shape)


def _kind_text(datatype: str) -> str:
    if datatype == "BOOL":
        return "true or false"
    if datatype == "BYTES":
        return "strings"
    if datatype.startswith("FP"):
        return "numbers"
    return "whole numbers"


def decode_v2(body: bytes, model: ServedModel, header_length: int | None = None) -> V2Request:
    """A V2 inference request (JSON, or JSON followed by binary tensors when
    ``header_length`` is given) as the model's Inputs."""
    binary = None
    if header_length is not None:
        if header_length < 0 or header_length > len(body):
            raise InvalidInput(f"Inference-Header-Content-Length is {header_length}, but the body has {len(body)} "
                               "bytes.")
        binary = memoryview(body)[header_length:]
        body = body[:header_length]
    request = loads(body)
    if not isinstance(request, dict):
        raise InvalidInput(f"A V2 inference request is a JSON object with 'inputs'; got {type(request).__name__}.")
    raw_inputs = request.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise InvalidInput("A V2 inference request needs 'inputs': a list of tensors, each with name, shape, "
                           "datatype and data.")
    request_id = request.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInput(f"'id' must be a string; got {request_id!r}.")
    parameters = _parameters(request.get("parameters"), "The request's 'parameters'")
    tensors: dict[str, np.ndarray] = {}
    offset = 0
    for i, item in enumerate(raw_inputs):
        if not isinstance(item, dict):
            raise InvalidInput(f"inputs[{i}] must be an object with name, shape, datatype and data; got {item!r}.")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"inputs[{i}] needs a 'name' (a string).")
        where = f"Input {name!r}"
        if name in tensors:
            raise InvalidInput(f"{where} is given twice.")
        datatype = item.get("datatype")
        if datatype not in V2_DTYPES:
            raise InvalidInput(f"{where}: 'datatype' must be one of {', '.join(V2_DTYPES)}; got {datatype!r}.")
        shape = _shape(item.get("shape"), where)
        size = _parameters(item.get("parameters"), f"{where}: 'parameters'").get("binary_data_size")
        if size is not None:
            if binary is None:
                raise InvalidInput(f"{where} has binary_data_size but the request has no "
                                   "Inference-Header-Content-Length header to say where its binary data starts.")
            if not isinstance(size, int) or size < 0 or offset + size > len(binary):
                raise InvalidInput(f"{where}: binary_data_size {size!r} runs past the {len(binary)} bytes of binary "
                                   "data.")
            tensors[name] = _binary_tensor(binary[offset:offset + size], datatype, shape, where)
            offset += size
        elif "data" in item:
            tensors[name] = _json_tensor(item["data"], datatype, shape, where)
        else:
            raise InvalidInput(f"{where} has no 'data'.")
    if binary is not None and offset != len(binary):
        raise InvalidInput(f"The request carries {len(binary) - offset} bytes of binary data that no input claims.")
    outputs, binary_outputs = _requested_outputs(request.get("outputs"), parameters, model)
    return V2Request(request_id, model_inputs(tensors, model), outputs, binary_outputs, parameters)


def _parameters(value: Any, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{where} must be an object; got {str(value)[:100]}.")
    return value


def select_outputs(names: list[str] | None, model: ServedModel) -> list[str]:
    """The outputs a request names (all of the model's when None), each checked."""
    if not names:
        return list(model.outputs)
    for name in names:
        if name not in model.outputs:
            raise InvalidInput(f"Unknown output {name!r}; the model {model.name!r} gives {', '.join(model.outputs)}.")
    return list(names)


def _requested_outputs(raw: Any, parameters: dict, model: ServedModel) -> tuple[list[str] | None, set[str]]:
    all_binary = parameters.get("binary_data_output") is True
    if raw is None:
        return None, set(model.outputs) if all_binary else set()
    if not isinstance(raw, list):
        raise InvalidInput(f"'outputs' must be a list of {{\"name\": ...}} objects; got {raw!r}.")
    names, binary = [], set()
    for i, item in enumerate(raw):
        name = item.get("name") if isinstance(item, dict) else None
        if name not in model.outputs:
            raise InvalidInput(f"outputs[{i}]: unknown output {name!r}; the model {model.name!r} gives "
                               f"{', '.join(model.outputs)}.")
        names.append(name)
        wanted = _parameters(item.get("parameters"), f"outputs[{i}].parameters").get("binary_data")
        if wanted is True or (wanted is None and all_binary):
            binary.add(name)
    return names, binary


def model_inputs(tensors: dict[str, np.ndarray], model: ServedModel) -> Inputs:
    """Tensors named after the model's columns are its columns; a single tensor of another name
    is the model's tensor, or the [n, k] matrix of its k columns."""
    if model.tensor is not None:
        if len(tensors) != 1:
            raise InvalidInput(f"The model {model.name!r} takes one tensor ({model.signature.describe()}); "
                               f"got {len(tensors)} inputs ({', '.join(tensors)}).")
        return next(iter(tensors.values()))
    if model.columns is None:
        return tensors
    known = model.column_set
    unknown = [name for name in tensors if name not in known and name not in model.route_columns]
    if not unknown:
        return tensors
    if len(tensors) == 1:
        array = next(iter(tensors.values()))
        if array.ndim == 2:
            return array  # the [n, k] matrix of the columns: ServedModel.check splits it
    raise InvalidInput(f"Unknown input {unknown[0]!r}: the model {model.name!r} takes one input per column "
                       f"({model.describe_columns()}), or one tensor of shape [n, {len(model.columns)}].")


# ---------------------------------------------------------------------- V2 responses
def _binary_output(array: np.ndarray) -> bytes:
    if array.dtype.kind in "OUS":
        parts = []
        for value in array.ravel().tolist():
            data = value if isinstance(value, bytes) else str(value).encode("utf-8")
            parts.append(struct.pack("<I", len(data)))
            parts.append(data)
        return b"".join(parts)
    return np.ascontiguousarray(array).tobytes()


def _json_data(array: np.ndarray):
    flat = array.reshape(-1)
    if flat.dtype.kind in "OUSM":
        return [v if isinstance(v, (str, int, float, bool)) or v is None else str(v) for v in flat.tolist()]
    return np.ascontiguousarray(flat)


def encode_v2(model: ServedModel, request_id: str, outputs: Outputs, names: list[str] | None = None,
              binary: set[str] | frozenset = frozenset()) -> tuple[bytes, int | None]:
    """The V2 response body, and the length of its JSON header when binary outputs follow it."""
    tensors, blobs = [], []
    for name in names or model.outputs:
        array = outputs[name]
        tensor = {"name": name, "datatype": v2_datatype(array.dtype), "shape": list(array.shape)}
        if name in binary:
            data = _binary_output(array)
            tensor["parameters"] = {"binary_data_size": len(data)}
            blobs.append(data)
        else:
            tensor["data"] = _json_data(array)
        tensors.append(tensor)
    response = {"model_name": model.name, "id": request_id, "parameters": {}, "outputs": tensors}
    if model.version is not None:
        response["model_version"] = model.version_text
    header = dumps(response)
    if not blobs:
        return header, None
    return header + b"".join(blobs), len(header)


def model_metadata(model: ServedModel, status: dict | None = None) -> dict:
    """V2 model metadata: the model's inputs and outputs with their V2 datatypes and shapes."""
    if model.tensor is not None:
        inputs = [{"name": "input", "datatype": v2_datatype(np.dtype(model.tensor.dtype)),
                   "shape": list(model.tensor.shape)}]
    elif model.columns is not None:
        inputs = [{"name": c, "datatype": SIGNATURE_TO_V2[t], "shape": [-1]} for c, t in model.columns]
    else:
        inputs = []
    outputs = []
    for name in model.outputs:
        dtype, tail = model.output_dtypes.get(name, (np.dtype(np.float64), ()))
        outputs.append({"name": name, "datatype": v2_datatype(dtype), "shape": [-1, *tail]})
    metadata = {"name": model.name, "versions": [model.version_text] if model.version is not None else [],
                "platform": f"{model.backend}_{model.flavor}", "inputs": inputs, "outputs": outputs}
    if status is not None:
        metadata["status"] = status
    return metadata


# ---------------------------------------------------------------------- MLflow /invocations
def _column(values: list, name: str) -> np.ndarray:
    try:
        array = np.asarray(values)
    except (ValueError, TypeError):
        raise InvalidInput(f"Column {name!r} holds nested values of uneven lengths; send one value per row.") from None
    if array.ndim != 1:
        if array.ndim == 2 and array.shape[1] == 1:
            return array.reshape(-1)
        raise InvalidInput(f"Column {name!r} must hold one value per row; got values of shape {list(array.shape[1:])}.")
    return array


def _columns_from_rows(columns: list, rows: list, model: ServedModel, where: str) -> Inputs:
    if model.tensor is not None:
        return _tensor(rows, where)
    width = len(columns)
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            order = f" ({model.describe_columns()})" if model.columns is not None and list(columns) == model.column_names \
                else ""
            raise InvalidInput(f"{where}: row {i} must be a list of {width} values, one per column{order}; got "
                               f"{str(row)[:200]}.")
    if not rows:
        return {str(c): np.empty(0) for c in columns}
    if model.all_float:
        # Every column is a float: one conversion of the whole table, checked as a whole when the
        # columns come in the model's order.
        try:
            matrix = np.asarray(rows)
        except ValueError:  # nested values of uneven lengths: the column-by-column path names the column
            matrix = None
        if matrix is not None and matrix.ndim == 2 and matrix.dtype.kind in "fiu":
            if columns == model.column_names:
                return matrix
            return {str(c): matrix[:, j] for j, c in enumerate(columns)}
    return {str(c): _column(list(values), str(c)) for c, values in zip(columns, zip(*rows))}


def _columns_from_records(records: list, model: ServedModel, where: str) -> Inputs:
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise InvalidInput(f"{where}: record {i} must be an object of column: value; got {record!r}.")
    if model.tensor is not None:
        raise InvalidInput(f"The model {model.name!r} takes a tensor ({model.signature.describe()}), not records of "
                           "columns: send {\"instances\": [[...], ...]}.")
    names = model.column_names if model.columns is not None else list(dict.fromkeys(k for r in records for k in r))
    if model.route_columns:
        names = [*names, *(c for c in model.route_columns if c not in model.column_set)]
    present = set().union(*records) if records else set()
    return {name: _column([r.get(name) for r in records], name) for name in names if name in present}


def _tensor(values: Any, where: str) -> np.ndarray:
    try:
        array = np.asarray(values)
    except (ValueError, TypeError):
        raise InvalidInput(f"{where}: the rows must be lists of one length (a tensor).") from None
    if array.dtype.kind == "O":
        raise InvalidInput(f"{where}: the tensor holds nulls or values of mixed types.")
    return array


def _instances(value: Any, model: ServedModel, where: str) -> Inputs:
    if isinstance(value, dict):
        if model.tensor is not None:
            if len(value) != 1:
                raise InvalidInput(f"{where}: the model {model.name!r} takes one tensor; got {len(value)} named "
                                   "inputs.")
            return _tensor(next(iter(value.values())), where)
        columns = {}
        for name, values in value.items():
            columns[str(name)] = _column(values if isinstance(values, list) else [values], str(name))
        return columns
    if not isinstance(value, list):
        raise InvalidInput(f"{where} must be a list of rows or an object of columns; got {type(value).__name__}.")
    if value and all(isinstance(r, dict) for r in value):
        return _columns_from_records(value, model, where)
    if model.tensor is not None or model.columns is None:
        return _tensor(value, where)
    if value and all(isinstance(r, list) for r in value):
        return _columns_from_rows(model.column_names, value, model, where)
    if len(model.columns) == 1:
        return {model.column_names[0]: _column(value, model.column_names[0])}
    raise InvalidInput(f"{where} must be a list of rows (lists of {len(model.columns)} values in the order "
                       f"{model.describe_columns()}), a list of records, or an object of columns.")


def decode_invocations(body: bytes, content_type: str, model: ServedModel) -> Inputs:
    """An MLflow scoring request as Inputs: JSON with one of dataframe_split, dataframe_records,
    instances or inputs (and optionally params), or CSV with a header row."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "text/csv":
        return decode_csv(body, model)
    if media != "application/json":
        raise UnsupportedMediaType(
            f"Content-Type {content_type or '(none)'!r} is not supported: send application/json with one of "
            f"{', '.join(_FORMATS)}, or text/csv.")
    request = loads(body)
    if not isinstance(request, dict):
        raise InvalidInput(f"The body must be a JSON object with one of {', '.join(_FORMATS)}; got "
                           f"{type(request).__name__}.")
    given = [k for k in _FORMATS if k in request]
    unknown = [k for k in request if k not in _FORMATS and k != "params"]
    if len(given) != 1 or unknown:
        found = ", ".join(map(repr, request)) or "nothing"
        raise InvalidInput(f"The body must have exactly one of {', '.join(_FORMATS)} (and optionally params); "
                           f"got {found}.")
    _parameters(request.get("params"), "params")  # model parameters: none of modelcycle's models take any
    key = given[0]
    value = request[key]
    if key == "dataframe_split":
        if not isinstance(value, dict) or not isinstance(value.get("data"), list):
            raise InvalidInput("dataframe_split must be an object with 'columns' (a list of names) and 'data' "
                               "(a list of rows).")
        if value.get("index") is not None and not isinstance(value["index"], list):
            raise InvalidInput(f"dataframe_split.index must be a list; got {str(value['index'])[:100]}.")
        columns = value.get("columns")
        if columns is None:
            if model.columns is None and model.tensor is None:
                raise InvalidInput("dataframe_split needs 'columns' for a model without a signature.")
            columns = model.column_names or []
        if not isinstance(columns, list) or not all(isinstance(c, (str, int)) for c in columns):
            raise InvalidInput(f"dataframe_split.columns must be a list of column names; got {columns!r}.")
        if model.tensor is not None:
            return _tensor(value["data"], "dataframe_split.data")
        return _columns_from_rows(columns, value["data"], model, "dataframe_split.data")
    if key == "dataframe_records":
        if not isinstance(value, list):
            raise InvalidInput(f"dataframe_records must be a list of records (objects of column: value); got "
                               f"{type(value).__name__}.")
        return _columns_from_records(value, model, "dataframe_records")
    return _instances(value, model, key)


def _csv_column(name: str, type_: str, cells: list[str]) -> np.ndarray:
    values = np.asarray(cells)
    try:
        if type_ in ("float", "double"):
            values = np.where(values == "", "nan", values)
            return values.astype(np.float64)
        if type_ in ("integer", "long"):
            return values.astype(np.int64)
        if type_ == "boolean":
            lowered = np.char.lower(values)
            ok = np.isin(lowered, ["true", "false", "1", "0"])
            if not ok.all():
                raise ValueError(values[~ok][0])
            return np.isin(lowered, ["true", "1"])
    except (ValueError, OverflowError):
        bad = next((c for c in cells if not _parses(c, type_)), cells[0] if cells else "")
        raise InvalidInput(f"Column {name!r} must be {type_}; got {bad!r} in the CSV.") from None
    return values.astype(object)


def _parses(cell: str, type_: str) -> bool:
    try:
        if type_ in ("float", "double"):
            float(cell or "nan")
        elif type_ in ("integer", "long"):
            int(cell)
        elif type_ == "boolean":
            return cell.lower() in ("true", "false", "1", "0")
        return True
    except ValueError:
        return False


def decode_csv(body: bytes, model: ServedModel) -> Inputs:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("The CSV body is not UTF-8 text.") from None
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise InvalidInput(f"The CSV body cannot be read: {exc}.") from None
    rows = [r for r in rows if r]
    if not rows:
        raise InvalidInput("The CSV body is empty: send a header row of column names, then one row per prediction.")
    header, data = rows[0], rows[1:]
    for i, row in enumerate(data, start=2):
        if len(row) != len(header):
            raise InvalidInput(f"CSV line {i} has {len(row)} fields; the header has {len(header)}.")
    if model.tensor is not None:
        try:
            values = np.asarray(data, dtype=np.float64)
            dtype = np.dtype(model.tensor.dtype)
            # float64 as read: ServedModel.check narrows it and refuses values the narrower float cannot hold
            return values if dtype.kind == "f" else values.astype(dtype)
        except ValueError:
            raise InvalidInput("The CSV body must hold numbers only for a tensor model.") from None
    types = dict(model.columns or [])
    columns = {}
    for j, name in enumerate(header):
        cells = [row[j] for row in data]
        columns[name] = _csv_column(name, types.get(name, "string"), cells) if name in types else np.asarray(cells)
    return columns


def encode_predictions(outputs: Outputs) -> bytes:
    """MLflow's response: {"predictions": [...]}."""
    return dumps({"predictions": _json_data(outputs["predict"]) if outputs["predict"].ndim == 1
                  else outputs["predict"].tolist()})


class UnsupportedMediaType(InvalidInput):
    code = "UNSUPPORTED_MEDIA_TYPE"
    http_status = 415
