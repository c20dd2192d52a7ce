"""buf/validate/validate.proto comes from the installed protovalidate, and is registered once.

scripts/gen compiles generated/buf/validate/validate_pb2.py from the descriptor the library carries
(`contractrules.descriptors`); that module must be the file's only registration in google.protobuf's
default pool, whatever else is imported beside it (two registrations of one file fail at import).
"""
from __future__ import annotations

import subprocess
import sys

from google.protobuf import descriptor_pb2, descriptor_pool

from contractrules.descriptors import VALIDATE_PROTO, validate_descriptor_set


def test_generated_module_is_compiled_from_the_installed_descriptor() -> None:
    from buf.validate import validate_pb2

    shipped = descriptor_pb2.FileDescriptorSet.FromString(validate_descriptor_set()).file
    assert [file.name for file in shipped] == [VALIDATE_PROTO]
    assert validate_pb2.DESCRIPTOR.serialized_pb == shipped[0].SerializeToString()
    assert descriptor_pool.Default().FindFileByName(VALIDATE_PROTO) is validate_pb2.DESCRIPTOR


def test_one_registration_with_the_library_and_every_contract_imported() -> None:
    code = (
        "import protovalidate, buf.validate.validate_pb2 as v\n"
        "import postcardapp.user.v1.user_service_pb2, postcardapp.postcard.v1.postcard_service_pb2\n"
        "import gateway.app, services.postcard.server, services.user.server\n"
        "import sys\n"
        "owners = [m for m in list(sys.modules.values()) if getattr(getattr(m, 'DESCRIPTOR', None), 'name', None)"
        " == 'buf/validate/validate.proto']\n"
        "print([m.__name__ for m in owners])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "['buf.validate.validate_pb2']", result.stdout + result.stderr
