"""Configuration: environment variables, derived paths, and refusing to start without essentials."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from services.common.config import ConfigError
from services.user.server import create_server
from services.user.settings import UserServiceSettings
from tests.services.user.support import MakeSettings


def test_defaults_are_safe_and_paths_derive_from_the_state_dir() -> None:
    settings = UserServiceSettings()
    assert (settings.host, settings.port) == ("127.0.0.1", 50051)
    assert settings.state_dir == Path(".state/user-service")
    assert settings.resolved_db_path == Path(".state/user-service/users.sqlite3")
    assert settings.resolved_jwks_path == Path(".state/user-service/jwks.json")
    assert settings.wechat.base_url == "https://api.weixin.qq.com"
    assert settings.wechat.dev_fake is False
    assert settings.jwt.generate_dev_key is False
    assert settings.jwt.ttl_seconds == 7 * 24 * 3600
    assert (settings.jwt.issuer, settings.jwt.audience) == ("postcardapp-user-service", "postcardapp-gateway")


def test_environment_variables_with_nested_delimiter(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in {
        "USER_SERVICE_PORT": "6000",
        "USER_SERVICE_STATE_DIR": str(tmp_path),
        "USER_SERVICE_WECHAT__APPID": "wx123",
        "USER_SERVICE_WECHAT__SECRET": "s3cret",
        "USER_SERVICE_WECHAT__DEV_FAKE": "true",
        "USER_SERVICE_JWT__TTL_SECONDS": "3600",
        "USER_SERVICE_JWT__EXTRA_PUBLIC_KEY_PATHS": '["old-1.pem", "old-2.pem"]',
    }.items():
        monkeypatch.setenv(name, value)
    settings = UserServiceSettings()
    assert settings.port == 6000
    assert settings.resolved_db_path == tmp_path / "users.sqlite3"
    assert settings.wechat.appid == "wx123"
    assert settings.wechat.secret.get_secret_value() == "s3cret"
    assert settings.wechat.dev_fake is True
    assert settings.jwt.ttl_seconds == 3600
    assert settings.jwt.extra_public_key_paths == [Path("old-1.pem"), Path("old-2.pem")]
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    ("wechat", "named"),
    [
        ({"appid": "", "secret": ""}, ["USER_SERVICE_WECHAT__APPID", "USER_SERVICE_WECHAT__SECRET"]),
        ({"appid": "   "}, ["USER_SERVICE_WECHAT__APPID"]),
        ({"secret": ""}, ["USER_SERVICE_WECHAT__SECRET"]),
    ],
)
async def test_missing_wechat_credentials_fail_at_start(
    make_settings: MakeSettings, wechat: dict[str, str], named: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        await create_server(make_settings(wechat=wechat))
    for variable in named:
        assert variable in str(caught.value)
    assert "USER_SERVICE_WECHAT__DEV_FAKE" in str(caught.value)


async def test_dev_fake_needs_no_wechat_credentials(make_settings: MakeSettings) -> None:
    server, _ = await create_server(make_settings(wechat={"appid": "", "secret": "", "dev_fake": True}))
    await server.stop(0)


@pytest.mark.parametrize("configured", [False, True], ids=["unset", "missing-file"])
async def test_a_missing_private_key_fails_at_start(
    make_settings: MakeSettings, tmp_path: Path, configured: bool
) -> None:
    jwt = {"generate_dev_key": False}
    if configured:
        jwt["private_key_path"] = str(tmp_path / "nowhere.pem")
    settings = make_settings(jwt=jwt)
    with pytest.raises(ConfigError, match="USER_SERVICE_JWT__PRIVATE_KEY_PATH") as caught:
        await create_server(settings)
    assert "USER_SERVICE_JWT__GENERATE_DEV_KEY" in str(caught.value)
    assert ("nowhere.pem" in str(caught.value)) is configured
    assert not settings.state_dir.exists()  # nothing created, not even the database


async def test_a_key_of_the_wrong_type_fails_at_start(make_settings: MakeSettings, tmp_path: Path) -> None:
    path = tmp_path / "ec.pem"
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(ConfigError, match="not an Ed25519 private key"):
        await create_server(make_settings(jwt={"private_key_path": str(path)}))


async def test_a_missing_extra_public_key_fails_at_start(make_settings: MakeSettings, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="USER_SERVICE_JWT__EXTRA_PUBLIC_KEY_PATHS"):
        await create_server(make_settings(jwt={"extra_public_key_paths": [str(tmp_path / "gone.pem")]}))


def test_the_command_exits_with_a_clear_message_when_unconfigured(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("USER_SERVICE_")}
    result = subprocess.run(
        [sys.executable, "-m", "services.user", "--port", "0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "USER_SERVICE_WECHAT__APPID" in result.stderr
    assert "Traceback" not in result.stderr


def test_log_level_is_checked_and_normalised() -> None:
    assert UserServiceSettings(log_level="debug").log_level == "DEBUG"
    with pytest.raises(ValidationError, match="USER_SERVICE_LOG_LEVEL"):
        UserServiceSettings(log_level="chatty")


async def test_a_malformed_extra_key_fails_at_start(make_settings: MakeSettings, tmp_path: Path) -> None:
    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(ConfigError, match="holds no PEM public or private key"):
        await create_server(make_settings(jwt={"extra_public_key_paths": [str(tmp_path / "junk.pem")]}))
