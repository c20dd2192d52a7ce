"""Reading the deployment files the way their programs will: commands, variables and their settings."""
from __future__ import annotations

import os
import tomllib
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from pydantic_settings import BaseSettings

from gateway.settings import Settings as GatewaySettings
from services.postcard.settings import PostcardServiceSettings
from services.user.settings import UserServiceSettings

REPO = Path(__file__).resolve().parents[2]
SETTINGS: dict[str, tuple[str, type[BaseSettings]]] = {
    # entry point -> (its settings' variable prefix, its settings)
    "postcard-gateway": ("GATEWAY_", GatewaySettings),
    "user-service": ("USER_SERVICE_", UserServiceSettings),
    "postcard-service": ("POSTCARD_SERVICE_", PostcardServiceSettings),
    "postcard-worker": ("POSTCARD_SERVICE_", PostcardServiceSettings),
}
OTEL_VARIABLES = {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME"}


def entry_points() -> set[str]:
    return set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"])


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def unknown_variables(prefix: str, settings: type[BaseModel], variables: dict[str, str]) -> list[str]:
    """Variables with the prefix that name no field (`__` between nested fields): typos a service would ignore."""
    unknown = []
    for name in variables:
        if not name.startswith(prefix):
            if name not in OTEL_VARIABLES:
                unknown.append(name)
            continue
        model: Any = settings
        for part in name[len(prefix):].lower().split("__"):
            fields = getattr(model, "model_fields", None)
            if fields is None or part not in fields:
                unknown.append(name)
                break
            model = _model_of(fields[part].annotation)
    return unknown


def _model_of(annotation: Any) -> Any:
    """The settings model of a field's annotation (`X | None` is X)."""
    models = [arg for arg in typing.get_args(annotation) if isinstance(arg, type) and issubclass(arg, BaseModel)]
    return models[0] if models else annotation


def settings_from(monkeypatch: pytest.MonkeyPatch, program: str, variables: dict[str, str]) -> BaseSettings:
    """The settings `program` would build from exactly these variables (ValidationError if it would not start)."""
    prefix, settings = SETTINGS[program]
    for name in list(os.environ):
        if name.startswith(prefix):
            monkeypatch.delenv(name)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return settings()
