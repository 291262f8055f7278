"""Transcript normalisation: volatile values become placeholders, secrets never appear."""

from __future__ import annotations

from corral_conformance.transcript import (
    STANDARD_HELLO,
    STANDARD_INITIALIZE_RESULT,
    Transcript,
    collapse_standard,
    normalise_value,
    render,
    standard_handshake,
)


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


def hello_step(version: str = "1.0") -> dict[str, object]:
    return {"step": "expectHello", "hello": {"corral": "hello", "protocol": [version]}}


def initialize_step(sync: bool = True, id_: int = 0) -> dict[str, object]:
    result = {"protocolVersion": "1.0", "capabilities": {"syncHandlers": sync}}
    return {"step": "initialize", "got": {"jsonrpc": "2.0", "id": id_, "result": result}}


def test_the_standard_handshake_is_what_most_transcripts_share() -> None:
    transcripts = [
        [hello_step(), initialize_step()],
        [hello_step(), initialize_step(sync=False)],
        [hello_step("2.0"), initialize_step(id_=3)],
    ]
    assert standard_handshake(transcripts) == {
        STANDARD_HELLO: {"corral": "hello", "protocol": ["1.0"]},
        STANDARD_INITIALIZE_RESULT: initialize_step()["got"]["result"],  # type: ignore[index]
    }
    assert standard_handshake([[{"step": "send"}]]) == {}


def test_collapse_replaces_only_equal_handshakes_anywhere() -> None:
    standard = standard_handshake([[hello_step(), initialize_step()]])
    reply = initialize_step()["got"]
    records = [
        hello_step(),
        initialize_step(id_=4),
        {"step": "expect", "got": reply},  # a hand-sent initialize's reply
        hello_step("2.0"),
        initialize_step(sync=False),
    ]
    collapsed = collapse_standard(records, standard)
    assert collapsed[0] == {"step": "expectHello", "hello": STANDARD_HELLO}
    assert collapsed[1]["got"] == {"jsonrpc": "2.0", "id": 4, "result": STANDARD_INITIALIZE_RESULT}
    assert collapsed[2]["got"]["result"] == STANDARD_INITIALIZE_RESULT
    assert collapsed[3:] == records[3:]  # different: shown in full
    assert collapse_standard({"n": 1, "b": True}, {"<one>": 1}) == {"n": "<one>", "b": True}
