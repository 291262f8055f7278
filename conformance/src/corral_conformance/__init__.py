"""The language-neutral conformance suite of the Corral runner protocol."""
