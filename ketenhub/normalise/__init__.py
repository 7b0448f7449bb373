"""Normalise: partner format to the canonical model, with the XSLT mappings in mappings/."""
