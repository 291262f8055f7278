"""Transcript normalisation: volatile values become placeholders, secrets never appear."""

from __future__ import annotations

from corral_conformance.transcript import Transcript, normalise_value, render


def test_normalise_replaces_volatile_values() -> None:
    replacements = {"/work/corral-x/project": "<project>", "ab" * 32: "<token>"}
    value = {
        "hello": {
            "port": 50123,
            "pid": 41,
            "runner": {"name": "r", "version": "1.2", "language": "x"},
        },
        "handlers": [{"name": "h", "durationMs": 3.7, "error": {"traceback": "File ..."}}],
        "message": "no such file /work/corral-x/project/a.py at 0x7f3a2b1c9d00",
        "token": "ab" * 32,
        "blob": "x" * 1000,
        "id": 7,
    }
    out = normalise_value(value, replacements)
    assert out["hello"]["port"] == "<port>"
    assert out["hello"]["pid"] == "<pid>"
    assert out["hello"]["runner"]["version"] == "<version>"
    assert out["handlers"][0]["durationMs"] == "<ms>"
    assert out["handlers"][0]["error"]["traceback"] == "<traceback>"
    assert out["message"] == "no such file <project>/a.py at 0x<addr>"
    assert out["token"] == "<token>"
    assert out["blob"].startswith("<string of 1000 chars, sha256 ")
    assert out["id"] == 7


def test_raw_transcript_redacts_tokens_and_steps_render_one_line_each() -> None:
    transcript = Transcript()
    token = "cd" * 32
    transcript.replace(token, "<token>")
    transcript.replace("/work/p", "<project>")
    transcript.event("stdin", line=f'{{"token":"{token}","project":"/work/p"}}')
    transcript.step({"step": "send", "message": {"token": token}})
    raw = transcript.raw()
    assert token not in str(raw)
    assert "/work/p" in str(raw)  # only secrets are redacted in the raw transcript
    assert render(transcript.normalised()) == '{"step":"send","message":{"token":"<token>"}}'
