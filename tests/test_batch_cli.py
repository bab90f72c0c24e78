"""``extractor-energy extract``: folders -> JSONL/CSV, locally and against a server; resume, summary, exit status."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path

import httpx
import pytest

from extractor_energy.cli import extract as batch_cli
from extractor_energy.api.auth import hash_key
from extractor_energy.cli.extract import CSV_COLUMNS, Job, Writer, collect_jobs, csv_row, run_jobs
from extractor_energy.cli.main import build_parser
from extractor_energy.client import AsyncClient, RetryPolicy
from extractor_energy.domain.schema import ALL_FIELDS

from .conftest import bill_image, jpeg_bytes
from .live_server import live_server, test_settings


def make_bills(root: Path) -> Path:
    """data/equatorial_go/{a,b}.jpg, data/cemig_mg/scans/c.png, data/cemig_mg/broken.jpg, data/notes.txt"""
    (root / "equatorial_go").mkdir(parents=True)
    (root / "cemig_mg" / "scans").mkdir(parents=True)
    for n, name in enumerate(("a.jpg", "b.jpg")):
        (root / "equatorial_go" / name).write_bytes(jpeg_bytes(bill_image(n)))
    bill_image(5).save(root / "cemig_mg" / "scans" / "c.png")
    (root / "cemig_mg" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (root / "notes.txt").write_text("not a bill")
    return root


def run(argv: list[str], monkeypatch, settings=None) -> int:
    if settings is not None:  # local mode: the test's tiny model instead of EXTRACTOR_* from the environment
        monkeypatch.setattr("extractor_energy.config.get_settings", lambda: settings)
    args = build_parser().parse_args(["extract", "--no-progress", *argv])
    return args.func(args)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_collect_jobs_keys_from_folders_or_flags(tmp_path):
    data = make_bills(tmp_path / "data")
    jobs = {p.path.name: p.key for p in collect_jobs([str(data)], None, None)}
    assert jobs == {"a.jpg": "equatorial_go", "b.jpg": "equatorial_go", "c.png": "cemig_mg", "broken.jpg": "cemig_mg"}
    flagged = collect_jobs([str(data / "equatorial_go" / "a.jpg"), str(data / "cemig_mg")], "Light", "RJ")
    assert {j.key for j in flagged} == {"light_rj"} and len(flagged) == 3
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "x.jpg").write_bytes(b"x")
    with pytest.raises(batch_cli.UsageError, match="no key for"):
        collect_jobs([str(loose)], None, None)
    with pytest.raises(batch_cli.UsageError, match="together"):
        collect_jobs([str(data)], "CEMIG", None)


def test_local_jsonl_summary_failures_and_resume(tiny_model_dir, tmp_path, monkeypatch, capsys):
    data = make_bills(tmp_path / "data")
    settings = test_settings(tiny_model_dir, tmp_path / "adapters", max_batch_size=4)
    out = tmp_path / "out" / "answers.jsonl"
    assert run([str(data), "-o", str(out)], monkeypatch, settings) == 1  # broken.jpg failed
    rows = read_jsonl(out)
    assert sorted(Path(r["file"]).name for r in rows) == ["a.jpg", "b.jpg", "c.png"]
    by_name = {Path(r["file"]).name: r for r in rows}
    assert by_name["a.jpg"]["key"] == "equatorial_go" and by_name["c.png"]["key"] == "cemig_mg"
    assert set(by_name["a.jpg"]["data"]) == set(ALL_FIELDS) and "requires_review" in by_name["a.jpg"]
    err = capsys.readouterr().err
    assert "equatorial_go" in err and "cemig_mg" in err and "failed" in err and "broken.jpg" in err
    total = next(line for line in err.splitlines() if line.startswith("total"))
    assert total.split()[1] == "3" and total.split()[3] == "1"

    # resume: answered files are skipped, the failed one is tried again (and fails again)
    assert run([str(data), "-o", str(out)], monkeypatch, settings) == 1
    assert len(read_jsonl(out)) == 3
    assert "3 already in the output, skipped" in capsys.readouterr().err
    (data / "cemig_mg" / "broken.jpg").unlink()
    assert run([str(data), "-o", str(out)], monkeypatch, settings) == 0


def test_local_csv_flattens_the_contract(tiny_model_dir, tmp_path, monkeypatch):
    data = make_bills(tmp_path / "data")
    (data / "cemig_mg" / "broken.jpg").unlink()
    out = tmp_path / "answers.csv"
    settings = test_settings(tiny_model_dir, tmp_path / "adapters")
    assert run([str(data / "equatorial_go"), "-o", str(out)], monkeypatch, settings) == 0
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 and tuple(rows[0]) == CSV_COLUMNS
    assert rows[0]["key"] == "equatorial_go" and rows[0]["requires_review"] in ("true", "false")
    assert isinstance(json.loads(rows[0]["consumo_lista"]), list)  # lists are JSON cells
    # resume from a CSV: a new folder is added, the old rows stay, no second header
    assert run([str(data), "-o", str(out)], monkeypatch, settings) == 0
    with out.open(newline="") as fh:
        assert [r["key"] for r in csv.DictReader(fh)] == ["equatorial_go", "equatorial_go", "cemig_mg"]


def test_csv_cells_are_safe_and_warnings_are_codes():
    answer = {"key": "equatorial_go", "concessionaria": "EQUATORIAL", "uf": "GO", "requires_review": True,
              "warnings": [{"code": "invalid_value", "fields": [], "message": ""}, {"code": "json_repaired", "fields": [], "message": ""}],
              "data": {"nome_cliente": "=HYPERLINK(\"http://evil\")", "valor_fatura": -3.5, "consumo_lista": [{"consumo": 1}]},
              "timings_ms": {"total": 12.0}}
    row = csv_row("f.jpg", answer)
    assert row["warnings"] == "invalid_value;json_repaired" and row["requires_review"] == "true"
    assert row["nome_cliente"].startswith("'=") and row["valor_fatura"] == "-3.5"
    assert json.loads(row["consumo_lista"]) == [{"consumo": 1}] and row["total_ms"] == "12.0"


def test_concurrent_run_honours_503_and_retry_after(tmp_path):
    """The server's 503 + Retry-After is waited out and the bill retried; other errors are reported per file."""
    served, slept = [], []

    def handler(request: httpx.Request) -> httpx.Response:
        served.append(request)
        if len(served) % 2:  # every other request: the server is full
            return httpx.Response(503, json={"detail": "full"}, headers={"Retry-After": "2"})
        if b"bad" in request.content:
            return httpx.Response(422, json={"detail": "the file is not an image"})
        return httpx.Response(200, json={
            "key": "equatorial_go", "concessionaria": "EQUATORIAL", "uf": "GO", "adapter": None, "adapter_version": None,
            "model": "m", "model_family": "vlm", "pages": 1, "data": {}, "confidence": {}, "requires_review": True,
            "warnings": [], "timings_ms": {"decode": 0, "queue": 0, "preprocess": 0, "generate": 0, "total": 0},
            "batch_size": 1, "tokens_generated": 1})

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    for n in range(4):
        (tmp_path / f"{n}.jpg").write_bytes(b"bad" if n == 3 else b"ok")
    jobs = [Job(tmp_path / f"{n}.jpg", "EQUATORIAL", "GO") for n in range(4)]
    writer = Writer(tmp_path / "out.jsonl", "jsonl")

    async def main():
        async with AsyncClient("http://x", transport=httpx.MockTransport(handler), retry=RetryPolicy(retries=3),
                               sleep=sleep) as client:
            return await run_jobs(client, jobs, writer, concurrency=3, progress=False)

    summary = asyncio.run(main())
    writer.close()
    assert summary.done["equatorial_go"] == 3 and summary.review["equatorial_go"] == 3 and summary.failures == 1
    assert summary.failed["equatorial_go"][0][1].endswith("the file is not an image")
    assert slept and set(slept) == {2.0}
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 3


def test_server_mode_with_api_key(tiny_model_dir, tmp_path, monkeypatch, capsys):
    data = make_bills(tmp_path / "data")
    (data / "cemig_mg" / "broken.jpg").unlink()
    settings = test_settings(tiny_model_dir, tmp_path / "adapters", api_keys=f"billing:extract:{hash_key('ee_k')}")
    out = tmp_path / "answers.jsonl"
    with live_server(settings) as url:
        assert run([str(data), "--server", url, "--api-key", "ee_wrong", "-o", str(out)], monkeypatch) == 1
        assert "401" in capsys.readouterr().err and read_jsonl(out) == []
        monkeypatch.setenv("EXTRACTOR_API_KEY", "ee_k")
        assert run([str(data), "--server", url, "--concurrency", "3", "-o", str(out)], monkeypatch) == 0
    assert sorted(r["key"] for r in read_jsonl(out)) == ["cemig_mg", "equatorial_go", "equatorial_go"]


def test_usage_errors_exit_2(tmp_path, monkeypatch, capsys):
    assert run([str(tmp_path / "missing"), "-o", str(tmp_path / "o.jsonl")], monkeypatch) == 2
    assert "no such file" in capsys.readouterr().err
    assert run([str(tmp_path), "-o", str(tmp_path / "o.txt")], monkeypatch) == 2
    assert ".jsonl or .csv" in capsys.readouterr().err


# ---------------------------------------------------------------------------- --sources
SOURCES = {
    "valor_fatura": {"page": 1, "box": [812.4, 1402.5, 968.2, 1431.0], "text": "R$ 396,89"},
    "vencimento": None,  # answered but not located on the page
    "nome_cliente": {"page": 2, "box": [10, 20, 30, 40], "text": "=MARIA"},
    "consumo_lista": [{"page": 1, "box": [40, 1800, 400, 1822], "text": "04/2025 | 340"}, None],
}


def sources_server(monkeypatch, sources: dict | None = SOURCES) -> None:
    """``--server`` answers from a fake service whose envelopes carry ``sources`` and ``page_sizes``."""

    def handler(request: httpx.Request) -> httpx.Response:
        extra = {} if sources is None else {"sources": sources, "page_sizes": [[1240, 1754], [1240, 1754]]}
        return httpx.Response(200, json={
            "key": "equatorial_go", "concessionaria": "EQUATORIAL", "uf": "GO", "adapter": None, "adapter_version": None,
            "model": "m", "model_family": "text", "pages": 2, "confidence": {}, "requires_review": False,
            "data": {"valor_fatura": 396.89, "vencimento": "10/05/2025", "nome_cliente": "=MARIA",
                     "consumo_lista": [{"mes_ano": "04/2025", "consumo": 340}, {"mes_ano": "03/2025", "consumo": 310}]},
            "warnings": [], "timings_ms": {"decode": 0, "queue": 0, "preprocess": 0, "generate": 0, "total": 0},
            "batch_size": 1, "tokens_generated": 1, **extra})

    def fake_client(url, **kwargs):
        return AsyncClient(url, transport=httpx.MockTransport(handler), **kwargs)

    monkeypatch.setattr(batch_cli, "AsyncClient", fake_client)


def test_sources_flag_writes_jsonl_sources(tmp_path, monkeypatch):
    sources_server(monkeypatch)
    bill = tmp_path / "equatorial_go" / "a.jpg"
    bill.parent.mkdir()
    bill.write_bytes(b"x")
    plain, with_sources = tmp_path / "plain.jsonl", tmp_path / "sources.jsonl"
    assert run([str(bill), "--server", "http://x", "-o", str(plain)], monkeypatch) == 0
    assert run([str(bill), "--server", "http://x", "--sources", "-o", str(with_sources)], monkeypatch) == 0
    [row] = read_jsonl(plain)
    assert "sources" not in row and "page_sizes" not in row  # without the flag: the output as before
    [row] = read_jsonl(with_sources)
    assert row["sources"] == {**SOURCES, "nome_cliente": {"page": 2, "box": [10.0, 20.0, 30.0, 40.0], "text": "=MARIA"},
                              "consumo_lista": [{"page": 1, "box": [40.0, 1800.0, 400.0, 1822.0], "text": "04/2025 | 340"},
                                                None]}
    assert row["page_sizes"] == [[1240, 1754], [1240, 1754]] and row["data"]["valor_fatura"] == 396.89


def test_sources_flag_writes_csv_source_columns(tmp_path, monkeypatch, capsys):
    sources_server(monkeypatch)
    bill = tmp_path / "equatorial_go" / "a.jpg"
    bill.parent.mkdir()
    bill.write_bytes(b"x")
    out = tmp_path / "answers.csv"
    assert run([str(bill), "--server", "http://x", "--sources", "-o", str(out)], monkeypatch) == 0
    with out.open(newline="") as fh:
        [row] = list(csv.DictReader(fh))
    assert tuple(row)[: len(CSV_COLUMNS)] == CSV_COLUMNS
    assert row["valor_fatura__source"] == "1:812,1402,969,1431"  # whole pixels, rounded outwards
    assert row["vencimento__source"] == "" and row["num_instalacao__source"] == ""
    assert json.loads(row["consumo_lista__source"]) == ["1:40,1800,400,1822", None]
    assert row["nome_cliente__source"] == "2:10,20,30,40" and row["consumo_kwh__source"] == ""
    assert json.loads(row["sources"])["nome_cliente"]["text"] == "=MARIA"  # the printed text: in the JSON column
    assert json.loads(row["page_sizes"]) == [[1240, 1754], [1240, 1754]]

    # resuming with another choice would mix columns under one header: refused, the file untouched
    before = out.read_bytes()
    bill2 = bill.parent / "b.jpg"
    bill2.write_bytes(b"y")
    assert run([str(bill.parent), "--server", "http://x", "-o", str(out)], monkeypatch) == 2
    assert "written with --sources" in capsys.readouterr().err and out.read_bytes() == before
    assert run([str(bill.parent), "--server", "http://x", "--sources", "-o", str(out)], monkeypatch) == 0
    with out.open(newline="") as fh:
        assert [r["valor_fatura__source"] for r in csv.DictReader(fh)] == ["1:812,1402,969,1431"] * 2


def test_sources_from_a_server_without_them(tmp_path, monkeypatch):
    """An older server sends no sources: the columns are there and empty, nothing fails."""
    sources_server(monkeypatch, sources=None)
    bill = tmp_path / "equatorial_go" / "a.jpg"
    bill.parent.mkdir()
    bill.write_bytes(b"x")
    out, lines = tmp_path / "answers.csv", tmp_path / "answers.jsonl"
    assert run([str(bill), "--server", "http://x", "--sources", "-o", str(out)], monkeypatch) == 0
    assert run([str(bill), "--server", "http://x", "--sources", "-o", str(lines)], monkeypatch) == 0
    with out.open(newline="") as fh:
        [row] = list(csv.DictReader(fh))
    assert row["valor_fatura__source"] == "" and row["sources"] == "{}"
    assert read_jsonl(lines)[0]["sources"] == {}


def test_malformed_sources_never_fail_a_row():
    answer = {"data": {}, "sources": {"valor_fatura": {"page": 1, "box": ["a"]}, "vencimento": "x",
                                      "consumo_lista": [{"page": 1}, 3]}}
    row = csv_row("f.jpg", answer, sources=True)
    assert row["valor_fatura__source"] == "" and row["vencimento__source"] == ""
    assert json.loads(row["consumo_lista__source"]) == [None, None]


def test_extract_help_documents_sources(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["extract", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--sources" in text and "page:x0,y0,x1,y1" in text and "pixels" in text
