"""The V2 inference protocol over gRPC, with the semantics and errors of the REST endpoints.

The gRPC server runs on a thread pool beside the HTTP server of the same worker and hands each
request to the worker's event loop, so both protocols share one model, one micro-batcher, one
prediction log and the same metrics.
"""

from __future__ import annotations

import asyncio
import math
import struct
from concurrent import futures
from time import perf_counter

import numpy as np

from modelcycle.exceptions import InvalidInput, ModelcycleError, NotFound
from modelcycle.serving import proto
from modelcycle.serving.codecs import MAX_DIMENSIONS, _bytes_elements
from modelcycle.serving.app import KEY_HEADER, expected_error

# V2 datatype -> (numpy dtype, the InferTensorContents field that carries it)
DATATYPES = {
    "BOOL": (np.bool_, "bool_contents"),
    "INT8": (np.int8, "int_contents"), "INT16": (np.int16, "int_contents"), "INT32": (np.int32, "int_contents"),
    "INT64": (np.int64, "int64_contents"),
    "UINT8": (np.uint8, "uint_contents"), "UINT16": (np.uint16, "uint_contents"),
    "UINT32": (np.uint32, "uint_contents"), "UINT64": (np.uint64, "uint64_contents"),
    "FP16": (np.float16, None), "FP32": (np.float32, "fp32_contents"), "FP64": (np.float64, "fp64_contents"),
    "BYTES": (np.object_, "bytes_contents"),
}
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def _elements(shape) -> int:
    if any(d < 0 for d in shape):
        raise InvalidInput(f"A tensor shape has no negative sizes; got {list(shape)}.")
    if len(shape) > MAX_DIMENSIONS:
        raise InvalidInput(f"A tensor has at most {MAX_DIMENSIONS} dimensions; got {len(shape)}.")
    count = math.prod(shape)
    if math.prod(d or 1 for d in shape) > 2**50:  # numpy cannot shape it, even with a size 0 in it
        raise InvalidInput(f"A tensor shape of {list(shape)} is too large for any tensor.")
    return count


def decode_tensor(tensor, raw: bytes | None) -> tuple[str, str, list[int], np.ndarray]:
    """(name, datatype, shape, array of that shape) of one input tensor of a ModelInferRequest."""
    name, datatype, shape = tensor.name, tensor.datatype.upper(), list(tensor.shape)
    if datatype not in DATATYPES:
        raise InvalidInput(f"Input {name!r} has datatype {tensor.datatype!r}; V2 datatypes are "
                           f"{', '.join(DATATYPES)}.")
    dtype, field = DATATYPES[datatype]
    count = _elements(shape)
    if raw is not None:
        if datatype == "BYTES":
            array = _bytes_elements(memoryview(raw), count, f"Input {name!r}")
        else:
            width = np.dtype(dtype).itemsize
            if len(raw) != count * width:
                raise InvalidInput(f"Input {name!r} of shape {shape} and datatype {datatype} takes {count * width} "
                                   f"raw bytes; got {len(raw)}.")
            array = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype, copy=False)
    else:
        if field is None:
            raise InvalidInput(f"Input {name!r} is FP16, which travels only as raw_input_contents.")
        values = getattr(tensor.contents, field)
        if len(values) != count:
            raise InvalidInput(f"Input {name!r} of shape {shape} takes {count} values; got {len(values)}.")
        if datatype == "BYTES":
            array = np.array(values, dtype=object)
        else:  # int_contents carries INT8 and INT16 as int32 (and uint_contents UINT8, UINT16): check the range
            array = np.asarray(values, dtype=np.int64 if field in ("int_contents", "uint_contents") else dtype)
            if array.dtype != dtype:
                info = np.iinfo(dtype)
                outside = array[(array < info.min) | (array > info.max)]
                if outside.size:
                    raise InvalidInput(f"Input {name!r}: {datatype} holds {info.min} to {info.max}; got "
                                       f"{outside[0].item()}.")
                array = array.astype(dtype)
    return name, datatype, shape, array.reshape(shape) if len(shape) else array.reshape(())


def encode_output(response, name: str, array: np.ndarray) -> None:
    """Add one output tensor to a ModelInferResponse, its contents in raw form."""
    array = np.asarray(array)
    out = response.outputs.add(name=name, shape=list(array.shape))
    if array.dtype.kind in "OUS":
        out.datatype = "BYTES"
        parts = []
        for item in array.ravel().tolist():
            data = item if isinstance(item, bytes) else str(item).encode("utf-8")
            parts.append(struct.pack("<I", len(data)) + data)
        response.raw_output_contents.append(b"".join(parts))
        return
    for datatype, (dtype, _) in DATATYPES.items():
        if datatype != "BYTES" and np.dtype(dtype) == array.dtype:
            out.datatype = datatype
            break
    else:
        array, out.datatype = array.astype(np.float64), "FP64"
    response.raw_output_contents.append(np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes())


_STATUS = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 409: "FAILED_PRECONDITION", 413: "RESOURCE_EXHAUSTED",
           503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def _abort(context, exc: ModelcycleError):
    import grpc

    code = getattr(grpc.StatusCode, _STATUS.get(exc.http_status, "INTERNAL"))
    context.abort(code, exc.message)


class Servicer:
    """The six RPCs of the V2 service over the worker's inference service (see app.py)."""

    def __init__(self, service, loop: asyncio.AbstractEventLoop):
        self.service, self.loop = service, loop

    def _call(self, coroutine, timeout: float | None):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def ServerLive(self, request, context):
        return proto.ServerLiveResponse(live=True)

    def ServerReady(self, request, context):
        return proto.ServerReadyResponse(ready=self.service.ready)

    def ModelReady(self, request, context):
        try:
            self.service.model_for(request.name, request.version or None)
            return proto.ModelReadyResponse(ready=True)
        except NotFound:
            return proto.ModelReadyResponse(ready=False)
        except ModelcycleError as exc:
            _abort(context, exc)

    def ServerMetadata(self, request, context):
        meta = self.service.server_metadata()
        return proto.ServerMetadataResponse(name=meta["name"], version=meta["version"], extensions=meta["extensions"])

    def ModelMetadata(self, request, context):
        try:
            meta = self.service.model_metadata(request.name, request.version or None)
        except ModelcycleError as exc:
            _abort(context, exc)
        response = proto.ModelMetadataResponse(name=meta["name"], versions=meta["versions"],
                                               platform=meta["platform"])
        for kind in ("inputs", "outputs"):
            for t in meta[kind]:
                getattr(response, kind).add(name=t["name"], datatype=t["datatype"], shape=t["shape"])
        return response

    def ModelInfer(self, request, context):
        try:
            try:
                raw = list(request.raw_input_contents)
                if raw and len(raw) != len(request.inputs):
                    raise InvalidInput(f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} "
                                       "inputs; give one per input, in order.")
                tensors = [decode_tensor(t, raw[i] if raw else None) for i, t in enumerate(request.inputs)]
            except Exception as exc:  # refused before the service sees it: counted here
                error = expected_error(exc, "gRPC ModelInfer")
                self.service.record(None, "grpc", error.http_status, perf_counter(), None)
                raise error from exc
            requested = [o.name for o in request.outputs] or None
            key = next((v for k, v in context.invocation_metadata() if k == KEY_HEADER), None)
            result = self._call(self.service.infer(
                request.model_name, request.model_version or None, tensors, requested, request.id or None,
                endpoint="grpc", key=key), timeout=self.service.request_timeout_s + 5)
        except ModelcycleError as exc:
            _abort(context, exc)
        except futures.TimeoutError:
            _abort(context, ModelcycleError("The prediction did not finish in time."))
        except Exception as exc:  # a bug of ours: counted as a 500 by service.infer, logged here
            _abort(context, expected_error(exc, "gRPC ModelInfer"))
        response = proto.ModelInferResponse(model_name=result.model_name, model_version=str(result.model_version),
                                            id=result.request_id)
        for name, array in result.outputs.items():
            encode_output(response, name, array)
        return response


def start_grpc(service, host: str, port: int, loop: asyncio.AbstractEventLoop, threads: int = 16):
    """A started gRPC server on ``host:port`` (shared by the workers of one machine)."""
    import grpc

    servicer = Servicer(service, loop)
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, name), request_deserializer=request.FromString,
            response_serializer=response.SerializeToString)
        for name, (request, response) in proto.METHODS.items()
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="modelcycle-grpc"),
                         options=[("grpc.so_reuseport", 1), ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                                  ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)])
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(proto.SERVICE, handlers),))
    if server.add_insecure_port(f"{host}:{port}") == 0:
        raise InvalidInput(f"Cannot listen for gRPC on {host}:{port}: the port is taken or the address is not "
                           "this machine's. Choose another --grpc-port.")
    server.start()
    return server
