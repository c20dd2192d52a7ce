"""The reference user-service: WeChat login, users in SQLite, JWTs signed with a private key.

Run it with ``python -m services.user``; build it in tests with
``services.user.server.create_server(settings)``. Module map, in the order a login meets them:
``settings`` (configuration), ``wechat`` (code -> open_id), ``store`` (users), ``keys`` (signing key
and the published JWKS), ``tokens`` (the JWT), ``servicer`` (the gRPC methods), ``server`` (assembly).
"""

from postcardapp.user.v1 import user_service_pb2

# The name health checks and reflection use: "postcardapp.user.v1.UserService".
SERVICE_NAME: str = user_service_pb2.DESCRIPTOR.services_by_name["UserService"].full_name
