"""Ray Serve deployment of the service (optional extra ``pip install 'extractor-energy[ray]'``).

* ``ModelReplica`` (``replica.py``): one resident model with its adapter registry, watcher and
  micro-batching scheduler per replica. Requests for a key with an adapter carry it as Ray's
  ``multiplexed_model_id``; the replica's ``@serve.multiplexed`` LRU has exactly the registry's
  adapter slots, and a key it evicts is unloaded from the model (``registry.unload_soon``), so
  Ray routes a key to the replica that already holds its adapter.
* ``Ingress`` (``ingress.py``): the same HTTP API as the single-process server (routes, auth,
  admission, errors, envelope), forwarding extractions to the model replicas.
* ``ReplicaBoard`` (``board.py``): where replicas post what they hold, for ``GET /adapters``
  (per replica) and for the ingress to know which keys have an adapter.
* ``app.py``: the application builder (``serve.yaml``) and the local runner behind
  ``extractor-energy serve --ray``.

Nothing here is imported by the single-process server: Ray is only needed when this package is used.
"""

MODEL_DEPLOYMENT = "ExtractorModel"
BOARD_DEPLOYMENT = "ReplicaBoard"
INGRESS_DEPLOYMENT = "Ingress"
#: response headers saying which model replica served and whether the key's adapter was already resident there
REPLICA_HEADER = "X-Extractor-Replica"
RESIDENT_HEADER = "X-Extractor-Adapter-Resident"
