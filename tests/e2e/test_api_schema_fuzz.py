"""Property-based fuzzing of the whole API from its own OpenAPI schema (schemathesis).

The app runs in-process (schemathesis' ASGI client, which also runs the lifespan)
against the session's Valkey and a SQLite file of its own, with an API key so the
authentication checks run too.  Every schemathesis check is on, for schema-valid and
schema-invalid requests: no 5xx; documented statuses, content types, headers and
schemas; invalid requests refused, valid ones accepted; the key enforced; OPTIONS and
undocumented methods answered with a correct ``Allow``.  The live-events endpoint is
left out: a stream of a pending task never ends.

One exception, which no schema can state: a groups file is ``format: binary`` in the
schema, but the server refuses one that is binary (415) or names no community (422),
so positive-data acceptance is not asked of the upload.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from pydantic import SecretStr
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance

from vk_collector.api import create_app
from vk_collector.embedded import EmbeddedValkey
from vk_collector.settings import (
    ApiSettings,
    DatabaseSettings,
    QueuesSettings,
    RedisSettings,
    Settings,
)


@pytest.fixture(scope="module")
def api_schema(
    redis_server: EmbeddedValkey, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[schemathesis.BaseSchema]:
    data = Path(tmp_path_factory.mktemp("fuzz"))
    config = Settings(
        data_dir=data,
        redis=RedisSettings(url=redis_server.url),
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{data / 'fuzz.db'}"),
        queues=QueuesSettings(prefix="fuzz-" + data.name),
        # the ASGI client's Host; a key, so that every check of authentication runs
        api=ApiSettings(allowed_hosts=["testserver"], key=SecretStr(FUZZ_KEY)),
    )
    app = create_app(config, redis_server.url, workers=False)
    # unknown query parameters are ignored, as HTTP servers do (cache busters): not
    # asked for as "invalid" input
    config = SchemathesisConfig.from_dict({"generation": {"allow-extra-parameters": False}})
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    yield schema.exclude(path_regex=r"/events$")
    asgi.shutdown_lifespans()


FUZZ_KEY = "fuzz-api-key-0123456789"
CONTENT_THE_SCHEMA_CANNOT_STATE = {"POST /api/groups/upload": [positive_data_acceptance]}


def _fuzz(operation: Any, mode: GenerationMode, statuses: Counter[int]) -> None:
    excluded = CONTENT_THE_SCHEMA_CANNOT_STATE.get(operation.label, [])

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=15,
        deadline=None,
        database=None,
        derandomize=True,  # the same cases every run: CI stays deterministic
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call_and_validate(headers={"X-API-Key": FUZZ_KEY}, excluded_checks=excluded)
        statuses[response.status_code] += 1

    run()


def test_api_conforms_to_its_schema(api_schema: schemathesis.BaseSchema) -> None:
    failures: list[str] = []
    operations = 0
    statuses: Counter[int] = Counter()
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, statuses)
            except Unsatisfiable:  # no parameters or body: nothing to make invalid
                assert mode is GenerationMode.NEGATIVE, operation.label
            except BaseException as exc:  # schemathesis reports an exception group
                if not isinstance(exc, Exception | BaseExceptionGroup):
                    raise
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert operations >= 20
    assert statuses.total() >= operations * 5, statuses
    assert all(statuses[code] for code in (200, 404, 400)), statuses
    assert not failures, "\n\n".join(failures)
