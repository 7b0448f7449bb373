"""The XML toolkit every stage shares: safe parsing, compiled schemas, problems in plain words,
and the XSLT engine of the mappings with their extension functions."""
