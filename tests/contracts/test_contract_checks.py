"""The contract checks catch what they exist for: a lint violation and a breaking change.

Runs the real buf (installed from npm by scripts/setup) on descriptor images
that scripts/gen builds, exactly as scripts/check-contracts does.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUF = REPO / "node_modules" / ".bin" / "buf"
POSTCARD_PROTO = Path("postcardapp/postcard/v1/postcard_service.proto")


@pytest.fixture(scope="module")
def buf() -> Path:
    assert BUF.exists(), "buf is missing: run scripts/setup --with-buf (scripts/test does)"
    return BUF


def _image(proto_root: Path, out: Path) -> Path:
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen"), "--proto-root", str(proto_root),
         "--descriptor-set", str(out), "--no-python"],
        check=True,
    )  # fmt: skip
    return out


def _copy_protos(tmp_path: Path) -> Path:
    root = tmp_path / "proto"
    shutil.copytree(REPO / "proto", root)
    return root


def _edit(root: Path, old: str, new: str) -> None:
    path = root / POSTCARD_PROTO
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def _buf(buf: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(buf), *args, "--config", str(REPO / "buf.yaml"), "--path", "postcardapp"],
        capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip


def test_current_contracts_pass_lint(buf: Path, tmp_path: Path) -> None:
    result = _buf(buf, "lint", str(_image(REPO / "proto", tmp_path / "current.binpb")))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        ("message GetPostcardRequest {", "message get_postcard_request_v {}\n\nmessage GetPostcardRequest {",
         "get_postcard_request_v"),
        # buf's PROTOVALIDATE rule: the buf.validate annotations themselves must make sense.
        ("      max_len: 200\n", "      max_len: 200\n      min_len: 201\n", "min_len"),
    ],
)  # fmt: skip
def test_lint_violation_is_caught(buf: Path, tmp_path: Path, old: str, new: str, complaint: str) -> None:
    root = _copy_protos(tmp_path)
    _edit(root, old, new)
    result = _buf(buf, "lint", str(_image(root, tmp_path / "bad.binpb")))
    assert result.returncode != 0
    assert complaint in result.stdout


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        ("  string theme = 7;\n", "", "deleted"),  # a field removed from Postcard
        ("string task_id = 1;\n}\n\n// Which task.", "int64 task_id = 1;\n}\n\n// Which task.", "type"),
        ("  string recipient = 8;\n", "  string recipient = 8;\n  string sender = 11;\n", ""),  # adding is fine
    ],
)
def test_breaking_change_is_caught(buf: Path, tmp_path: Path, old: str, new: str, complaint: str) -> None:
    root = _copy_protos(tmp_path)
    _edit(root, old, new)
    base = _image(REPO / "proto", tmp_path / "base.binpb")
    result = _buf(buf, "breaking", str(_image(root, tmp_path / "new.binpb")), "--against", str(base))
    if complaint:
        assert result.returncode != 0, "buf breaking accepted a breaking change"
        assert complaint in result.stdout
    else:
        assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        ('get: "/api/v1/postcards/me"', 'get: "/api/v1/postcards/mine"', "/api/v1/postcards/me (postcardapp"),
        ("success_status: 202", "success_status: 200", "success_status changed from 202 to 200"),
        ('response_body: "postcards"', "", "response_body changed"),
        ("      pagination: {\n        next_page_token_field: \"next_page_token\"\n        page_token_field: "
         "\"page_token\"\n        page_size_field: \"page_size\"\n        default_page_size: 100\n"
         "        max_page_size: 100\n      }\n", "", "no longer links its next page"),
        ('get: "/api/v1/postcards/{postcard_id}"', 'get: "/api/v1/postcards/{id_of_postcard}"', None),
        ("    option (google.api.http) = {get: \"/api/v1/postcards/status/{task_id}\"};",
         "    option (google.api.http) = {\n      get: \"/api/v1/postcards/status/{task_id}\"\n"
         "      additional_bindings {get: \"/api/v1/tasks/{task_id}\"}\n    };", None),
    ],
)  # fmt: skip
def test_rest_breaking_change_is_caught(tmp_path: Path, old: str, new: str, complaint: str | None) -> None:
    """buf ignores google.api.http; scripts/rest-breaking guards the REST side of the contract."""
    root = _copy_protos(tmp_path)
    _edit(root, old, new)
    base = _image(REPO / "proto", tmp_path / "base.binpb")
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "rest-breaking"), str(_image(root, tmp_path / "new.binpb")),
         "--against", str(base)],
        capture_output=True, text=True,
    )  # fmt: skip
    if complaint is None:
        assert result.returncode == 0, result.stdout
    else:
        assert result.returncode == 1
        assert complaint in result.stdout
