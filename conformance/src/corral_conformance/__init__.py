"""The language-neutral conformance suite of the Corral runner protocol.

Cases are JSON data (``conformance/cases/<area>/<name>.json``, format in
``case.schema.json``); the driver (``corral-conformance run --runner "<command>"``) runs them
against any runner command. This module stays import-light: the pytest plugin imports it in
every pytest run of the repository.
"""

__version__ = "0.1.0"
