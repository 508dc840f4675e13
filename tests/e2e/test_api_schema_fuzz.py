"""Property-based fuzzing of the whole API from its own OpenAPI schema (schemathesis).

The app runs in-process (schemathesis' ASGI client, which also runs the lifespan)
against the session's Valkey and a SQLite file of its own.  No answer may be a 5xx,
and every answer must match the documented status codes, content types and schemas.
The live-events endpoint is left out: a stream of a pending task never ends.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

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
        api=ApiSettings(allowed_hosts=["testserver"]),  # the ASGI client's Host
    )
    app = create_app(config, redis_server.url, workers=False)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    yield schema.exclude(path_regex=r"/events$")
    asgi.shutdown_lifespans()


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_api_conforms_to_its_schema(api_schema: schemathesis.BaseSchema) -> None:
    failures: list[str] = []
    operations = 0
    statuses: Counter[int] = Counter()
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            response = case.call_and_validate(checks=CHECKS)
            statuses[response.status_code] += 1

        try:
            run()
        except Exception as exc:
            failures.append(f"{operation.label}: {exc}")
    assert operations >= 20
    assert statuses.total() >= operations * 5, statuses
    assert all(statuses[code] for code in (200, 404, 422)), statuses
    assert not failures, "\n\n".join(failures)
