"""One adapter identity from the edge to the slot table, like vLLM's ``LoRARequest``.

An :class:`AdapterRef` is made once where a request arrives (``ExtractionService.extract``, the Ray
ingress) from ``concessionaria`` + ``uf``, and handed on as is: the lease binds it to the version
that serves the request (:meth:`AdapterRef.served_by`), the scheduler and the slot table use its
``slot_id``, and error messages, metrics and Ray's multiplexed model id use its ``key``.

Its path: ``/extract`` -> ``ExtractionService.extract`` (made here) -> ``extract_for`` -> ``lease_for``
-> ``GenerationInput.adapter_name`` (its slot id) -> ``Scheduler.submit`` (``Job.key``) ->
``AdapterRegistry.sync`` -> ``SlotTable``; on Ray: ingress (made here) -> ``ModelReplica.extract`` ->
``extract_for`` -> the same.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from extractor_energy.domain.keys import BillKey, make_key

#: ``slot_id`` of rows served by the base model (no adapter).
BASE = "__base__"


def slot_id(key: str, version: str, generation: int) -> str:
    """The slot table's name for one adapter version: readable (key and version), so messages may quote
    it as is; ``generation`` keeps it unique when the same bytes come back after another version."""
    return f"{key}@{version}-{generation}"


@dataclass(frozen=True)
class AdapterRef:
    """Which adapter answers one request.

    ``bill`` is what the request asked for; ``adapter``, ``version`` and ``slot_id`` say what serves
    it once a lease is taken: the bill's own adapter, the fallback adapter, or (``adapter`` None,
    ``slot_id`` BASE) the base model with the utility's prompt.
    """

    bill: BillKey
    adapter: str | None = None  # the serving adapter's key: bill.key, or the fallback's
    version: str | None = None
    slot_id: str = BASE

    @classmethod
    def of(cls, concessionaria: str, uf: str) -> AdapterRef:
        """Normalise the two form fields; raises :class:`~extractor_energy.domain.keys.InvalidKey`."""
        return cls(make_key(concessionaria, uf))

    @property
    def key(self) -> str:
        """``equatorial_go``: the name in answers, errors and metrics, and Ray's multiplexed model id."""
        return self.bill.key

    def served_by(self, adapter: str, version: str, slot: str) -> AdapterRef:
        """This request, bound to the adapter version that answers it."""
        return replace(self, adapter=adapter, version=version, slot_id=slot)

    def __str__(self) -> str:
        return self.key
