"""One adapter identity (``AdapterRef``): made once at the edge, handed on as is to the scheduler and
the slot table, and the name errors use (issue 21)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from extractor_energy.adapters import identity
from extractor_energy.adapters.catalog import Lease
from extractor_energy.adapters.identity import BASE, AdapterRef, slot_id
from extractor_energy.config import Settings
from extractor_energy.domain.keys import InvalidKey
from extractor_energy.errors import BadKey, TimedOut
from extractor_energy.extraction.service import ExtractionService
from extractor_energy.metrics import Metrics

from .conftest import bill_image, jpeg_bytes
from .test_residency import FakeLoader, make_registry, publish

PHOTO = jpeg_bytes(bill_image(3))


def test_a_ref_is_made_once_from_the_form_fields_and_bound_to_what_serves_it():
    ref = AdapterRef.of("Cemig Distribuição", " mg ")
    assert ref.key == str(ref) == "cemig_mg" and ref.bill.uf == "MG"
    assert (ref.adapter, ref.version, ref.slot_id) == (None, None, BASE)  # the base model until a lease binds it
    served = ref.served_by("cemig_mg", "abc123", slot_id("cemig_mg", "abc123", 4))
    assert served.bill is ref.bill and served.slot_id == "cemig_mg@abc123-4" and served.version == "abc123"
    assert ref.slot_id == BASE, "binding makes a new ref; the edge's stays as it was"
    with pytest.raises(InvalidKey):
        AdapterRef.of("CEMIG", "XX")


class _Registry:
    """One leasable version for ``equatorial_go``."""

    def __init__(self) -> None:
        self.lease = Lease(key="equatorial_go", version="v1", internal_name=slot_id("equatorial_go", "v1", 1))
        self.released: list[Lease | None] = []

    def acquire(self, key: str) -> Lease | None:
        return self.lease if key == "equatorial_go" else None

    def error_of(self, key: str) -> None:
        return None

    def release(self, lease: Lease | None) -> None:
        self.released.append(lease)


class _Scheduler:
    """Records what it is handed; the job is never answered (the service times out)."""

    def __init__(self) -> None:
        self.submitted: list[tuple[Any, Any]] = []

    def submit(self, gen_input: Any, key: Any) -> SimpleNamespace:
        self.submitted.append((gen_input, key))
        future = asyncio.get_running_loop().create_future()
        return SimpleNamespace(future=future, enqueued_at=0.0, started_at=None, cancel=lambda: None)


def test_the_edge_ref_reaches_the_scheduler_bound_to_its_lease_without_normalising_again(monkeypatch):
    registry, scheduler = _Registry(), _Scheduler()
    service = ExtractionService(
        settings=Settings(_env_file=None, request_timeout_s=0.05), loaded=SimpleNamespace(family="vlm"),  # type: ignore[arg-type]
        registry=registry, scheduler=scheduler, metrics=Metrics(),  # type: ignore[arg-type]
    )
    ref = AdapterRef.of("EQUATORIAL", "GO")

    def again(*args: object) -> None:
        raise AssertionError("the key was normalised a second time")

    monkeypatch.setattr(identity, "make_key", again)
    with pytest.raises(TimedOut) as info:
        asyncio.run(service.extract_for(ref, PHOTO, "bill.jpg", "image/jpeg"))
    assert info.value.key == "equatorial_go"
    ((gen_input, submitted),) = scheduler.submitted
    assert isinstance(submitted, AdapterRef) and submitted.bill is ref.bill
    assert (submitted.adapter, submitted.version) == ("equatorial_go", "v1")
    assert gen_input.adapter_name == submitted.slot_id == registry.lease.internal_name  # the slot table's id
    assert registry.released == [registry.lease]


def test_a_refused_load_is_reported_by_the_slot_id_as_is(tmp_path):
    """No mapping back from internal names: the slot id reads as key@version, and the message quotes it."""
    loader = FakeLoader(fail={"light_rj"})
    reg = make_registry(tmp_path / "adapters", loader)
    publish(reg.root, "light_rj", seed=1)
    reg.settle()
    lease = reg.acquire("light_rj")
    assert lease.internal_name.startswith(f"light_rj@{lease.version}-")
    reg.sync({lease.internal_name})
    assert f"injected failure for {lease.internal_name}" in reg.describe("light_rj")["error"]
    reg.release(lease)


class _Handle:
    """A model deployment handle that records the routing and the arguments of each call."""

    def __init__(self) -> None:
        self.model_ids: list[str] = []
        self.calls: list[tuple[Any, ...]] = []
        self.extract = self

    def options(self, *, multiplexed_model_id: str) -> _Handle:
        self.model_ids.append(multiplexed_model_id)
        return self

    def remote(self, *args: Any) -> Any:
        from extractor_energy.ray_serve.replica import ReplicaAnswer

        self.calls.append(args)

        async def answer() -> ReplicaAnswer:
            return ReplicaAnswer("r1", True, envelope={"key": args[0].key})

        return answer()


def test_the_ray_ingress_makes_the_ref_and_routes_by_its_key():
    pytest.importorskip("ray")
    from extractor_energy.ray_serve.ingress import RayService, ReplicaView

    view = ReplicaView()
    view.reports = [{"adapter_keys": ["equatorial_go"]}]
    handle = _Handle()
    service = RayService(Settings(_env_file=None), handle, view)  # type: ignore[arg-type]
    assert asyncio.run(service.extract(PHOTO, "bill.jpg", "image/jpeg", "Equatorial Energia", "go")) == {"key": "equatorial_go"}
    assert handle.model_ids == ["equatorial_go"]  # Ray's multiplexed model id is the ref's key
    ref = handle.calls[0][0]
    assert isinstance(ref, AdapterRef) and ref.key == "equatorial_go"
    asyncio.run(service.extract(PHOTO, "bill.jpg", "image/jpeg", "CEMIG", "MG"))  # no adapter: any replica
    assert handle.model_ids == ["equatorial_go"] and handle.calls[1][0].key == "cemig_mg"
    with pytest.raises(BadKey, match="uf"):
        asyncio.run(service.extract(PHOTO, "bill.jpg", "image/jpeg", "CEMIG", "XX"))
    assert len(handle.calls) == 2, "a bad key never reaches a replica"
