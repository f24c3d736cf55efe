"""YAML at the byte level, for the finder and the editor (pure: no I/O).

``scalars`` (where a scalar's characters are, and how to write one), ``blocks`` (YAML held in a
literal block scalar, scanned as documents of their own) and ``editor`` (byte-exact rewrites of
the references the finder found).
"""
