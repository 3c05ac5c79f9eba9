"""The model server's OpenAPI document, built from the served model's signature (column names,
types, an example body from its input example), and a small self-contained /docs page."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

import modelcycle
from modelcycle.serving.codecs import SIGNATURE_TO_V2, V2_DTYPES, v2_datatype

if TYPE_CHECKING:
    from modelcycle.serving.runtime import ServedModel

EXAMPLE_ROWS = 2
_JSON_TYPES = {
    "boolean": {"type": "boolean"},
    "integer": {"type": "integer", "minimum": -(2 ** 31), "maximum": 2 ** 31 - 1},
    "long": {"type": "integer", "minimum": -(2 ** 63), "maximum": 2 ** 63 - 1},
    "float": {"type": "number", "minimum": -3.4e38, "maximum": 3.4e38},
    "double": {"type": "number"},
    "string": {"type": "string"},
    "datetime": {"type": "string", "format": "date-time"},
}


def _tensor_item(dtype: np.dtype) -> dict:
    kind = dtype.kind
    if kind == "b":
        return {"type": "boolean"}
    if kind in "iu":
        info = np.iinfo(dtype)
        return {"type": "integer", "minimum": int(info.min), "maximum": int(info.max)}
    if kind == "f":
        return {"type": "number"}
    return {"type": "string"}


def _example_values(model: ServedModel) -> tuple[dict[str, list] | None, list | None]:
    """(columns as JSON lists, rows) of the first rows of the input example, or of zeros."""
    inputs = model.example if model.example is not None else model.zeros(1)
    inputs = model.take(inputs, 0, EXAMPLE_ROWS)
    if isinstance(inputs, np.ndarray):
        return None, _jsonable(inputs).tolist() if inputs.dtype.kind != "M" else inputs.astype(str).tolist()
    columns = {name: _jsonable(values).tolist() for name, values in inputs.items()}
    rows = [list(row) for row in zip(*columns.values())]
    return columns, rows


def _jsonable(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "M":
        return np.datetime_as_string(values, unit="s").astype(object)
    if values.dtype.kind == "f":
        return np.where(np.isfinite(values), values, 0).astype(values.dtype)
    return values


def examples(model: ServedModel) -> dict[str, Any]:
    """Example bodies of every request format for ``model``."""
    columns, rows = _example_values(model)
    if model.tensor is not None:
        dtype = np.dtype(model.tensor.dtype)
        shape = [len(rows), *np.asarray(rows).shape[1:]]
        return {
            "v2": {"inputs": [{"name": "input", "shape": shape, "datatype": v2_datatype(dtype),
                               "data": np.asarray(rows).ravel().tolist()}]},
            "instances": {"instances": rows},
            "inputs": {"inputs": rows},
            "dataframe_split": {"dataframe_split": {"data": rows}},
            "csv": None,
        }
    types = dict(model.columns)
    n = len(rows)
    v2 = {"inputs": [{"name": name, "shape": [n], "datatype": SIGNATURE_TO_V2[types[name]], "data": values}
                     for name, values in columns.items()]}
    out = {
        "v2": v2,
        "dataframe_split": {"dataframe_split": {"columns": list(columns), "data": rows}},
        "dataframe_records": {"dataframe_records": [dict(zip(columns, row)) for row in rows]},
        "instances": {"instances": [dict(zip(columns, row)) for row in rows]},
        "inputs": {"inputs": columns},
        "csv": _csv(list(columns), rows),
    }
    if model.all_float:
        out["v2_tensor"] = {"inputs": [{"name": "input", "shape": [n, len(columns)], "datatype": "FP64",
                                        "data": [v for row in rows for v in row]}]}
    return out


def _csv(header: list[str], rows: list[list]) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _v2_request_schema(model: ServedModel) -> dict:
    if model.tensor is not None:
        names: dict = {"type": "string", "description": "Any name: the model takes one tensor."}
        item = _tensor_item(np.dtype(model.tensor.dtype))
        description = f"The model's tensor: {model.signature.describe()}."
    else:
        names = {"type": "string", "description": "A column of the model (" + ", ".join(c for c, _ in model.columns)
                 + "), or any name for one [n, k] tensor of all columns."}
        item = {}
        description = ("One tensor per column (shape [n] or [n, 1]): "
                       + ", ".join(f"{c} ({SIGNATURE_TO_V2[t]})" for c, t in model.columns)
                       + f"; or one tensor of shape [n, {len(model.columns)}] with the columns in that order.")
    tensor = {
        "type": "object", "required": ["name", "shape", "datatype", "data"], "description": description,
        "properties": {
            "name": names,
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "datatype": {"type": "string", "enum": list(V2_DTYPES)},
            "data": {"type": "array", "items": item, "description": "The values, flat in row-major order (or "
                                                                    "nested lists)."},
            "parameters": _OBJECT,
        },
    }
    return {
        "type": "object", "required": ["inputs"],
        "properties": {
            "id": {"type": "string", "maxLength": 256, "nullable": True, "description": "Returned as the response's id (and "
                                                                     "x-request-id)."},
            "parameters": _OBJECT,
            "inputs": {"type": "array", "minItems": 1, "items": tensor},
            "outputs": {"type": "array", "nullable": True, "items": {"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string", "enum": model.outputs}, "parameters": _OBJECT}},
                "description": f"The outputs to return (default: {', '.join(model.outputs)})."},
        },
    }


def _invocations_schema(model: ServedModel) -> dict:
    if model.tensor is not None:
        item = _tensor_item(np.dtype(model.tensor.dtype))
        rows = {"type": "array", "items": {"type": "array", "items": item}}
        return {"oneOf": [
            _only("instances", rows),
            _only("inputs", rows),
            _only("dataframe_split", {"type": "object", "required": ["data"],
                                      "properties": {"data": rows, "index": {"type": "array", "nullable": True}}}),
        ]}
    names = [c for c, _ in model.columns]
    record = {"type": "object", "required": names, "description": "One row: column: value.",
              "properties": {c: {**_JSON_TYPES[t], "nullable": t in ("float", "double")} for c, t in model.columns}}
    row = {"type": "array", "minItems": len(names), "maxItems": len(names),
           "description": f"One row: values in the order {', '.join(names)}."}
    split = {"type": "object", "required": ["data"], "properties": {
        "columns": {"type": "array", "items": {"type": "string", "enum": names}, "nullable": True,
                    "description": f"Column names (default: {', '.join(names)}, in that order)."},
        "data": {"type": "array", "items": {"type": "array", "description": "One row: values in the order of "
                                                                          "'columns'."}},
        "index": {"type": "array", "nullable": True}}}
    columns = {"type": "object", "required": names, "description": "column: list of values",
               "properties": {c: {"type": "array", "items": _JSON_TYPES[t]} for c, t in model.columns}}
    rows = {"type": "array", "items": {"anyOf": [record, row]}}
    return {"oneOf": [
        _only("dataframe_split", split),
        _only("dataframe_records", {"type": "array", "items": record}),
        _only("instances", rows),
        _only("inputs", {"anyOf": [columns, rows]}),
    ]}


def _only(key: str, schema: dict) -> dict:
    """A body with ``key`` and optionally params, nothing else (the server refuses other keys)."""
    return {"type": "object", "required": [key], "additionalProperties": False,
            "properties": {key: schema, "params": _OBJECT}}


_OBJECT = {"type": "object", "nullable": True}
_ERROR = {"type": "object", "required": ["error", "message"],
          "properties": {"error": {"type": "string"}, "message": {"type": "string"}}}
_V2_ERROR = {"type": "object", "required": ["error"],
             "properties": {"error": {"type": "string"}, "code": {"type": "string"}}}


def _errors(schema: str, *statuses: int) -> dict:
    reasons = {400: "Bad input: malformed JSON, a missing column, a wrong type or shape",
               404: "Unknown model or version", 413: "The body is over the size limit",
               415: "Unsupported Content-Type", 503: "The model is not loaded yet",
               504: "The prediction did not finish in the request timeout"}
    return {str(s): {"description": reasons[s], "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{schema}"}}}} for s in statuses}


def _json_response(description: str, schema: dict | None = None) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema or {"type": "object"}}}}


def openapi(model: ServedModel) -> dict:
    """The OpenAPI 3.0 document of a server answering with ``model``."""
    ex = examples(model)
    name_param = {"name": "name", "in": "path", "required": True,
                  "schema": {"type": "string", "enum": [model.name]}, "description": "The served model's name."}
    version_param = {"name": "version", "in": "path", "required": True,
                     "schema": {"type": "string", "enum": [model.version_text]}, "description": "Its version."}
    v2_examples = {"columns": {"summary": "One tensor per column", "value": ex["v2"]}}
    if "v2_tensor" in ex:
        v2_examples["tensor"] = {"summary": "One [n, k] tensor", "value": ex["v2_tensor"]}
    output_schema = {"type": "object", "required": ["name", "datatype", "shape"], "properties": {
        "name": {"type": "string"}, "datatype": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}}, "data": {"type": "array"},
        "parameters": _OBJECT}}
    infer_response = {"type": "object", "required": ["model_name", "outputs"], "properties": {
        "model_name": {"type": "string"}, "model_version": {"type": "string"}, "id": {"type": "string"},
        "parameters": _OBJECT, "outputs": {"type": "array", "items": output_schema}}}
    infer = {
        "summary": f"Predict with {model.name} (Open Inference Protocol V2)",
        "description": f"Inputs: {model.signature.describe() if model.signature else 'no signature'}. "
                       f"Outputs: {', '.join(model.outputs)}.",
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/InferenceRequest"}, "examples": v2_examples}}},
        "responses": {"200": _json_response("The outputs, and the version that answered",
                                            {"$ref": "#/components/schemas/InferenceResponse"}),
                      **_errors("V2Error", 400, 404, 413, 503, 504)},
    }
    invocation_examples = {k: {"value": ex[k]} for k in ("dataframe_split", "dataframe_records", "instances", "inputs")
                           if k in ex}
    invocations_body = {"application/json": {"schema": {"$ref": "#/components/schemas/InvocationsRequest"},
                                              "examples": invocation_examples}}
    if ex.get("csv"):
        invocations_body["text/csv"] = {"schema": {"type": "string"}, "example": ex["csv"]}
    predictions = {"type": "object", "required": ["predictions"],
                   "properties": {"predictions": {"type": "array"}}}
    health = {"responses": {"200": _json_response("Ready"), **_errors("Error", 503)}}
    label = {"oneOf": [{"type": "number"}, {"type": "string"}, {"type": "boolean"}]}
    text_id = {"type": "string", "minLength": 1, "maxLength": 256, "pattern": "^[^\\x00]+$"}
    reference = {"anyOf": [text_id, {"type": "integer"}], "nullable": True}  # a key may be a number
    feedback = {"type": "object", "additionalProperties": False, "required": ["label"],
                # null means not given: one of request_id and key must be there and not null
                "anyOf": [{"required": [field],
                           "properties": {field: {"anyOf": [{"type": "string"}, {"type": "integer"}]}}}
                          for field in ("request_id", "key")],
                "properties": {"request_id": reference, "key": reference,
                               "label": label,
                               "row": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1, "nullable": True},
                               # milliseconds since 1970, from the year 1 to 9999
                               "time": {"type": "number", "minimum": -62135596800000, "maximum": 253402300799999,
                                        "nullable": True},
                               "model": {"type": "string", "enum": [model.name]}}}
    v2_health = {"responses": {"200": _json_response("Ready"), **_errors("V2Error", 503)}}

    def get(summary: str, params=(), errors=(404,), schema="V2Error") -> dict:
        op = {"summary": summary, "responses": {"200": _json_response(summary)}}
        if params:
            op["parameters"] = list(params)
        op["responses"].update(_errors(schema, *errors))
        return {"get": op}

    paths = {
        "/v2/health/live": get("Server live", errors=()),
        "/v2/health/ready": {"get": {"summary": "Server ready", **v2_health}},
        "/v2": get("Server metadata", errors=()),
        "/v2/models/{name}": get("Model metadata", [name_param], (404, 503)),
        "/v2/models/{name}/ready": get("Model ready", [name_param], (404, 503)),
        "/v2/models/{name}/infer": {"post": {**infer, "parameters": [name_param]}},
        "/invocations": {"post": {
            "summary": f"Predict with {model.name} (MLflow scoring protocol)",
            "description": "The bodies `mlflow models serve` takes.",
            "requestBody": {"required": True, "content": invocations_body},
            "responses": {"200": _json_response("The predictions", predictions),
                          **_errors("Error", 400, 413, 415, 503, 504)}}},
        "/feedback": {"post": {
            "summary": "Ground truth for earlier predictions",
            "description": "Labels joined to the prediction log by request id (the x-request-id of the "
                           "prediction) or by key; read back with mc.read_predictions.",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [
                feedback, {"type": "array", "minItems": 1, "items": feedback}]}}}},
            "responses": {"201": _json_response("The labels recorded", {
                "type": "object", "required": ["model", "recorded"],
                "properties": {"model": {"type": "string"}, "recorded": {"type": "integer"}}}),
                **_errors("Error", 400, 413)}}},
        "/ping": {"get": {"summary": "MLflow health check", **health}},
        "/health": {"get": {"summary": "MLflow health check", **health}},
        "/version": get("Versions of the server and the model", errors=()),
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {
            "description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
    }
    if model.version is not None:
        paths["/v2/models/{name}/versions/{version}"] = get("Model metadata", [name_param, version_param], (404, 503))
        paths["/v2/models/{name}/versions/{version}/ready"] = get("Model ready", [name_param, version_param],
                                                                 (404, 503))
        paths["/v2/models/{name}/versions/{version}/infer"] = {"post": {**infer,
                                                                       "parameters": [name_param, version_param]}}
    return {
        "openapi": "3.0.3",
        "info": {"title": f"modelcycle model server: {model.name} version {model.version_text}",
                 "version": modelcycle.__version__,
                 "description": f"Serves {model.uri} ({model.backend} backend). Every response carries the "
                                "header x-modelcycle-model-version, the version that answered, and x-request-id."},
        "paths": paths,
        "components": {"schemas": {
            "InferenceRequest": _v2_request_schema(model),
            "InferenceResponse": infer_response,
            "InvocationsRequest": _invocations_schema(model),
            "Error": _ERROR,
            "V2Error": _V2_ERROR,
        }},
    }


def docs_page(spec: dict) -> str:
    """A page that lists every endpoint with its example bodies and sends them: no scripts or
    styles from anywhere else, so it works offline."""
    data = orjson.dumps(spec).decode().replace("</", "<\\/")
    title = html.escape(spec["info"]["title"])
    return _PAGE.replace("{{title}}", title).replace("{{spec}}", data)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{title}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1000px;padding:1em 1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.05em;margin:0}code,pre,textarea{font:12.5px ui-monospace,monospace}
details{border:1px solid #ccd;border-radius:6px;margin:.5em 0;padding:.4em .8em}
summary{cursor:pointer}.m{display:inline-block;width:4.5em;font-weight:600}
.get{color:#06c}.post{color:#080}textarea{width:100%;height:12em;box-sizing:border-box}
pre{background:#f5f5f8;padding:.6em;overflow:auto;max-height:24em}button{margin:.3em .3em .3em 0}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:2px 8px;text-align:left}
</style></head><body>
<h1>{{title}}</h1><p id="desc"></p><p><a href="openapi.json">openapi.json</a></p>
<div id="inputs"></div><div id="ops"></div>
<script>
const spec = {{spec}};
const esc = s => String(s).replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]));
document.getElementById("desc").textContent = spec.info.description;
const req = spec.components.schemas.InvocationsRequest;
const rec = (req.oneOf || []).map(o => o.properties.dataframe_records).find(Boolean);
if (rec) {
  const rows = Object.entries(rec.items.properties).map(([k, v]) =>
    `<tr><td>${esc(k)}</td><td>${esc(v.format || v.type)}</td></tr>`).join("");
  document.getElementById("inputs").innerHTML = `<h2>Input columns</h2><table><tr><th>column</th><th>type</th></tr>${rows}</table>`;
}
const ops = document.getElementById("ops");
for (const [path, item] of Object.entries(spec.paths)) {
  for (const [method, op] of Object.entries(item)) {
    const d = document.createElement("details");
    const url = path.replace("{name}", (op.parameters || []).find(p => p.name === "name")?.schema.enum[0] ?? "")
                    .replace("{version}", (op.parameters || []).find(p => p.name === "version")?.schema.enum[0] ?? "");
    let body = "", type = "application/json", examples = {};
    const content = op.requestBody?.content || {};
    for (const [t, c] of Object.entries(content)) {
      for (const [k, e] of Object.entries(c.examples || {})) examples[`${k} (${t})`] = [t, JSON.stringify(e.value, null, 1)];
      if (c.example) examples[t] = [t, c.example];
    }
    const first = Object.values(examples)[0];
    if (first) { type = first[0]; body = first[1]; }
    const buttons = Object.keys(examples).map(k => `<button data-k="${esc(k)}">${esc(k)}</button>`).join("");
    d.innerHTML = `<summary><span class="m ${method}">${method.toUpperCase()}</span><code>${esc(path)}</code> ${esc(op.summary || "")}</summary>
      <p>${esc(op.description || "")}</p>${method === "post" ? `<div>${buttons}</div><textarea>${esc(body)}</textarea>` : ""}
      <button class="send">Send to ${esc(url)}</button><pre class="out"></pre>`;
    const area = d.querySelector("textarea");
    d.querySelectorAll("button[data-k]").forEach(b => b.onclick = () => { [type, area.value] = examples[b.dataset.k]; });
    d.querySelector(".send").onclick = async () => {
      const out = d.querySelector(".out");
      const r = await fetch(url, method === "post" ? {method: "POST", headers: {"Content-Type": type}, body: area.value} : {});
      out.textContent = `${r.status} (version ${r.headers.get("x-modelcycle-model-version")})\\n` + await r.text();
    };
    ops.appendChild(d);
  }
}
</script></body></html>
"""
