"""Bounded schema fuzz (schemathesis) against the running app, once with API keys and once in
anonymous mode: every check schemathesis has, positive and negative data, and 0 issues of any kind
— no 5xx, answers that match the schema, schema-valid requests accepted, invalid ones refused
(issue 13, item 12; issue 23, item 9).

Uploads are drawn from real documents (a JPEG, a PNG, a one-page PDF): the schema can say a file
is binary, not that it is a bill, so random bytes would be refused (415/422) and hide real issues.
"""

from __future__ import annotations

import io

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from extractor_energy.api.auth import hash_key

from .conftest import bill_image, jpeg_bytes
from .live_server import live_server, test_settings

KEY = "ee_fuzz-key-0123456789abcdef"

EXAMPLES = 25  # per operation and mode: ~20 s per mode on the tiny model


def _document(kind: str) -> bytes:
    import pypdfium2 as pdfium

    if kind == "pdf":
        pdf = pdfium.PdfDocument.new()
        pdf.new_page(595, 842)
        buf = io.BytesIO()
        pdf.save(buf)
        return buf.getvalue()
    if kind == "jpeg":
        return jpeg_bytes(bill_image(6))
    buf = io.BytesIO()
    bill_image(7).save(buf, kind.upper())
    return buf.getvalue()


# the file part declares these media types (encoding.contentType): a real document of each
for _kind in ("jpeg", "png", "webp", "pdf"):
    schemathesis.openapi.media_type(("application/" if _kind == "pdf" else "image/") + _kind, st.just(_document(_kind)))


@pytest.fixture(scope="module", params=["keys", "anonymous"])
def fuzz_server(request, tiny_model_dir, tmp_path_factory):
    keys = {"api_keys": f"fuzz:extract+admin:{hash_key(KEY)}", "rate_limit_per_min": 0} if request.param == "keys" else {}
    config = test_settings(
        tiny_model_dir, tmp_path_factory.mktemp("fuzz-adapters"), max_new_tokens=16, max_upload_mb=1, **keys,
    )
    with live_server(config) as url:
        yield url, ({"X-API-Key": KEY} if keys else {})


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_server):
    loaded = schemathesis.openapi.from_url(fuzz_server[0] + "/openapi.json")
    # Not the coverage phase: with an encoded file part, schemathesis (4.32) fills the other required
    # form fields with "" whatever their minLength, a request the schema itself calls invalid.
    loaded.config.phases.update(phases=["examples", "fuzzing"])
    return loaded


schema = schemathesis.pytest.from_fixture("fuzz_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms_to_its_schema(case, fuzz_server):
    case.call_and_validate(headers=fuzz_server[1])  # every check, nothing excluded
