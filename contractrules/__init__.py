"""The contract's declared rules (protovalidate's `buf.validate` annotations in proto/), shared by
code generation, the gateway and the services: the `buf/validate/validate.proto` descriptor that
scripts/gen compiles against, taken from the installed library (`descriptors.py`), and a request
checked against its rules, with what is wrong as a `google.rpc.BadRequest` (`violations.py`)."""
