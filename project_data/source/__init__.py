"""Readable source of the demo domain: catalog, vocabularies, data generators, question banks and samples."""
