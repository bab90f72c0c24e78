"""The bill domain: the output contract, normalisers, keys, barcode and consistency checks."""
