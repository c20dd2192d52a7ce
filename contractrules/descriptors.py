"""`buf/validate/validate.proto` for protoc, from the installed `protovalidate` package.

No registry is reachable and third-party `.proto` sources are not copied into this repository, so
the descriptor comes from where the library keeps it: `protovalidate` 2.x carries the file's
compiled FileDescriptorProto for its own runtime (protobuf-py, `protovalidate._gen`), not as a
google.protobuf `_pb2` module. Written as a FileDescriptorSet, it is given to protoc with
`--descriptor_set_in`, so that our protos can `import "buf/validate/validate.proto"` and
scripts/gen compiles `generated/buf/validate/validate_pb2.py` from it like any other file. That
module is the one registration of the file in google.protobuf's default pool (protovalidate's
own copy lives in protobuf-py's registry, a separate runtime).
"""
from __future__ import annotations

import protovalidate
from google.protobuf import descriptor_pb2

VALIDATE_PROTO = "buf/validate/validate.proto"


def validate_descriptor_set() -> bytes:
    """A serialized FileDescriptorSet holding only `buf/validate/validate.proto` (its imports are the
    well-known types, which protoc finds in grpcio-tools' include folder)."""
    file = protovalidate.ViolationPb.desc().file
    assert file.name == VALIDATE_PROTO, file.name
    proto = descriptor_pb2.FileDescriptorProto.FromString(file.proto.to_binary())
    return descriptor_pb2.FileDescriptorSet(file=[proto]).SerializeToString()
