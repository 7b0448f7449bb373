"""Validation: payload checks (well-formed, safe, right root, control count, marker) and
event checks (partner XSD, BSN elfproef, the adapter's rules), with errors in plain words."""
