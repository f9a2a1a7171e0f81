"""One table maps the exception tree to HTTP statuses, and no route decides a status of its own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from sentiment_mlops import errors
from sentiment_mlops.serving.errors import headers_for, status_for

SRC = Path(errors.__file__).parent


@pytest.mark.parametrize("error, status", [
    (errors.UnauthorizedError, 401),
    (errors.ForbiddenError, 403),
    (errors.NotFoundError, 404),
    (errors.VersionNotFoundError, 404),  # before its parent: an unknown version is the client's mistake
    (errors.ModelNotFoundError, 503),  # no model loaded: the server cannot answer
    (errors.RegistryError, 503),
    (errors.StoreError, 503),
    (errors.IntegrityError, 503),
    (errors.DataError, 422),
    (errors.ConfigurationError, 422),
    (errors.InvalidRequestError, 422),
])
def test_each_domain_error_has_one_status(error, status):
    assert status_for(error("x")) == status


def test_only_a_401_says_how_to_authenticate():
    assert headers_for(errors.UnauthorizedError("x")) == {"WWW-Authenticate": "Bearer"}
    assert headers_for(errors.ForbiddenError("x")) is None


def test_no_module_but_the_mapping_raises_or_imports_httpexception():
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if path == SRC / "serving" / "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.ImportFrom) else []
            if "HTTPException" in names:
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert offenders == []
