"""A small, independent runner for testing the suite itself.

``python -m corral_conformance.testrunner`` is a correct minimal runner of the protocol,
written from the SPEC with raw asyncio streams and its own framing (no ``corral_protocol``),
serving only the conformance fixtures. ``--break VARIANT`` (repeatable) makes it break one
rule (see :mod:`.variants`); the suite's own tests use the variants to prove that every case
can fail.
"""
