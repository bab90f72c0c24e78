"""The ``extractor-energy`` command line: serve, extract, eval, synth, publish, api-key, tiny-model."""
