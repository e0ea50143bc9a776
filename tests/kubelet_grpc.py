"""A kubelet gRPC service served in a test from its generated messages and the methods the test
implements: a method left out answers UNIMPLEMENTED, as gRPC answers for one a server lacks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

import grpc


def service_handler(
    messages: ModuleType, service: str, methods: Mapping[str, Callable[..., Any]]
) -> grpc.GenericRpcHandler:
    """`methods` (by method name: callables taking the request and the context) served as `service`."""
    described = messages.DESCRIPTOR.services_by_name[service]
    handlers = {}
    for name, behaviour in methods.items():
        method = described.methods_by_name[name]
        request = getattr(messages, method.input_type.name)
        response = getattr(messages, method.output_type.name)
        make = (
            grpc.unary_stream_rpc_method_handler
            if method.server_streaming
            else grpc.unary_unary_rpc_method_handler
        )
        handlers[name] = make(
            behaviour, request_deserializer=request.FromString, response_serializer=response.SerializeToString
        )
    return grpc.method_handlers_generic_handler(described.full_name, handlers)
