"""Bounded schema fuzz (schemathesis) against the running app: no 5xx, and every answer
matches the OpenAPI schema: status codes, content types, bodies (issue 13, item 12)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from extractor_energy.api.auth import hash_key

from .live_server import live_server, test_settings

KEY = "ee_fuzz-key-0123456789abcdef"

EXAMPLES = 40  # per operation: a few hundred requests in all, well under a minute on the tiny model


@pytest.fixture(scope="module")
def fuzz_url(tiny_model_dir, tmp_path_factory):
    config = test_settings(
        tiny_model_dir, tmp_path_factory.mktemp("fuzz-adapters"), max_new_tokens=16, max_upload_mb=1,
        api_keys=f"fuzz:extract+admin:{hash_key(KEY)}", rate_limit_per_min=0,  # auth on: the checks probe it
    )
    with live_server(config) as url:
        yield url


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_url):
    return schemathesis.openapi.from_url(fuzz_url + "/openapi.json")


schema = schemathesis.pytest.from_fixture("fuzz_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms_to_its_schema(case):
    # positive_data_acceptance is left out: a schema-valid upload can still be no image at all (415/422)
    case.call_and_validate(headers={"X-API-Key": KEY}, excluded_checks=[positive_data_acceptance])
