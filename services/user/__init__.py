"""The reference user-service: WeChat login, users in SQLite, JWTs signed with a private key.

Run it with ``python -m services.user``; build it in tests with
``services.user.server.create_server(settings)``. Module map, in the order a login meets them:
``settings`` (configuration), ``wechat`` (code -> open_id), ``model`` and ``schema`` (the user and
its table), ``store`` (users), ``keys`` (signing key and the published JWKS), ``tokens`` (the JWT),
``servicer`` (the gRPC methods), ``server`` (assembly).
"""
