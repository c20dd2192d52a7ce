#!/bin/sh
# build-runtime.sh SRC VENV: the image's runtime, built from the source tree SRC into the virtual
# environment VENV: the locked dependencies (requirements.lock, every hash checked), our wheel
# without dependencies, then `pip check`. The Dockerfile's builder stage runs it, and so does
# tests/deploy/test_image_recipe.py, so that the test installs exactly what the image holds.
set -eu
src=$1
venv=$2
wheels=$(mktemp -d)
python3 -m venv "$venv"
"$venv/bin/pip" install --no-cache-dir --disable-pip-version-check --require-hashes -r "$src/requirements.lock"
"$venv/bin/pip" wheel --no-cache-dir --disable-pip-version-check --no-deps --wheel-dir "$wheels" "$src"
"$venv/bin/pip" install --no-cache-dir --disable-pip-version-check --no-deps "$wheels"/postcard_gateway-*.whl
"$venv/bin/pip" check
rm -rf "$wheels"
