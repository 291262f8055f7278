"""Reports of a run: live and final text, JSON, JUnit XML."""

from __future__ import annotations

from .json_report import json_report
from .junit import junit_xml
from .text import case_line, failure_block, summary_text

__all__ = ["case_line", "failure_block", "json_report", "junit_xml", "summary_text"]
