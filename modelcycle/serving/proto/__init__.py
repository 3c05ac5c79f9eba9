"""The V2 gRPC messages, built from the shipped descriptor (compiled from grpc_predict_v2.proto with
``protoc --descriptor_set_out``) in a pool of their own: no generated code tied to one protobuf
release, and no clash with a client library that registers the same ``inference`` package."""

from __future__ import annotations

from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

SERVICE = "inference.GRPCInferenceService"

_files = descriptor_pb2.FileDescriptorSet.FromString((Path(__file__).with_name("grpc_predict_v2.desc")).read_bytes())
_pool = descriptor_pool.DescriptorPool()
for _file in _files.file:
    _pool.Add(_file)


def _message(name: str):
    return message_factory.GetMessageClass(_pool.FindMessageTypeByName(f"inference.{name}"))


ServerLiveRequest = _message("ServerLiveRequest")
ServerLiveResponse = _message("ServerLiveResponse")
ServerReadyRequest = _message("ServerReadyRequest")
ServerReadyResponse = _message("ServerReadyResponse")
ModelReadyRequest = _message("ModelReadyRequest")
ModelReadyResponse = _message("ModelReadyResponse")
ServerMetadataRequest = _message("ServerMetadataRequest")
ServerMetadataResponse = _message("ServerMetadataResponse")
ModelMetadataRequest = _message("ModelMetadataRequest")
ModelMetadataResponse = _message("ModelMetadataResponse")
ModelInferRequest = _message("ModelInferRequest")
ModelInferResponse = _message("ModelInferResponse")
InferTensorContents = _message("InferTensorContents")
InferParameter = _message("InferParameter")

# rpc name -> (request class, response class), as the service declares them.
METHODS = {
    method.name: (message_factory.GetMessageClass(method.input_type),
                  message_factory.GetMessageClass(method.output_type))
    for method in _pool.FindServiceByName(SERVICE).methods
}
