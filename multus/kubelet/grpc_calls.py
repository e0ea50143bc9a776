"""A gRPC method of the kubelet's APIs, called from its generated messages alone.

Only the message modules (`api_pb2`) are generated: the service stubs and servicer skeletons that
grpcio-tools would add are not needed to call a method, whose path and message types the descriptors
already give.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import grpc


def unary_call(channel: grpc.Channel, messages: ModuleType, service: str, method: str) -> Any:
    """The callable for `service`'s unary `method`, described in the generated module `messages`."""
    described = messages.DESCRIPTOR.services_by_name[service]
    request = getattr(messages, described.methods_by_name[method].input_type.name)
    response = getattr(messages, described.methods_by_name[method].output_type.name)
    return channel.unary_unary(
        f"/{described.full_name}/{method}",
        request_serializer=request.SerializeToString,
        response_deserializer=response.FromString,
    )
