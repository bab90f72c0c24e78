"""The model and its serving loop: loading, encoding, batched generation, scheduler, constraints."""
