"""POST /v1/chat/completions with `tools` (tools/server/toolcall.c): the
protocol, through the `openai` client, on a small fixture of two tools.

The server's cache gets the committed programs of examples/tool-calling
(relevance.paw, argument.paw, compiled by bench/toolcall_data.py's TRAIN
split of BFCL) under the aliases the endpoint uses.  The requests below are
not BFCL items.  The committed relevance program is a degenerate one (P(call)
about 0.2 for every tool: examples/tool-calling/README.md), so no test here
expects "auto" to call a tool; a test of that belongs with its recompile."""
import json
import os
import subprocess

import openai
import pytest
import requests

from conftest import PAW, ROOT, Server

EX = os.path.join(ROOT, "examples", "tool-calling")

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather for a city",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "The name of the city"},
        "units": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius",
                  "description": "Temperature units"}},
        "required": ["city"]}}}
INTEREST = {"type": "function", "function": {
    "name": "compound_interest", "description": "Calculate the compound interest earned on a deposit",
    "parameters": {"type": "object", "properties": {
        "principal": {"type": "integer", "description": "The deposited amount in dollars"},
        "rate": {"type": "number", "description": "The yearly interest rate as a decimal"},
        "years": {"type": "integer", "description": "The number of years"}},
        "required": ["principal", "rate", "years"]}}}
TOOLS = [WEATHER, INTEREST]


@pytest.fixture(scope="module")
def tc_server(tmp_path_factory):
    cache = str(tmp_path_factory.mktemp("paw-toolcall"))
    env = dict(os.environ, PAW_CACHE_DIR=cache)
    for name, alias in (("relevance", "toolcall-relevance"), ("argument", "toolcall-argument")):
        out = subprocess.run([PAW, "install", os.path.join(EX, name + ".paw"), "--alias", alias], env=env,
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
    srv = Server(cache, "-t", "2", "--workers", "1")
    yield srv
    assert srv.stop() == 0


@pytest.fixture(scope="module")
def client(tc_server):
    return openai.OpenAI(base_url=tc_server.url + "/v1", api_key="unused", max_retries=0)


def schema_ok(args, tool):
    """args against the tool's JSON schema: known names, JSON types and enums
    as declared.  (A required parameter the argument program does not find is
    left out, not invented: presence is not checked.)"""
    props = tool["function"]["parameters"]["properties"]
    types = {"string": str, "integer": int, "number": (int, float), "boolean": bool}
    assert set(args) <= set(props), args
    for k, v in args.items():
        assert isinstance(v, types[props[k]["type"]]) and not (props[k]["type"] == "integer" and isinstance(v, bool))
        if "enum" in props[k]:
            assert v in props[k]["enum"]


def test_numbers_are_typed_by_the_schema(client):
    r = client.chat.completions.create(
        model="paw", tools=TOOLS, tool_choice={"type": "function", "function": {"name": "compound_interest"}},
        messages=[{"role": "user", "content": "Calculate the compound interest for a principal of 1500, a rate of "
                                              "0.05 and 10 years."}])
    (call,) = r.choices[0].message.tool_calls
    assert call.function.name == "compound_interest"
    assert "0.05" in call.function.arguments   # no 0.05000000000000000277
    args = json.loads(call.function.arguments)
    schema_ok(args, INTEREST)
    assert args["principal"] == 1500 and isinstance(args["principal"], int)
    assert args["rate"] == 0.05


def test_tool_choice_none_answers_a_message(client):
    r = client.chat.completions.create(
        model="paw", tools=TOOLS, tool_choice="none", max_tokens=8,
        messages=[{"role": "user", "content": "What is the weather like in Lisbon today?"}])
    ch = r.choices[0]
    assert not ch.message.tool_calls
    assert isinstance(ch.message.content, str) and ch.finish_reason == "stop"


def test_tool_choice_names_the_function(client):
    r = client.chat.completions.create(
        model="paw", tools=TOOLS, tool_choice={"type": "function", "function": {"name": "get_weather"}},
        messages=[{"role": "user", "content": "Tell me about Oslo."}])
    (call,) = r.choices[0].message.tool_calls
    assert call.function.name == "get_weather"
    schema_ok(json.loads(call.function.arguments), WEATHER)


def test_tool_choice_required_always_calls(client):
    r = client.chat.completions.create(
        model="paw", tools=[INTEREST], tool_choice="required",
        messages=[{"role": "user", "content": "Write a haiku about autumn leaves."}])
    (call,) = r.choices[0].message.tool_calls
    assert call.function.name == "compound_interest"


def test_tool_result_turn_answers_with_a_message(client):
    ask = [{"role": "user", "content": "What is the weather like in Lisbon today?"}]
    first = client.chat.completions.create(model="paw", tools=[WEATHER], messages=ask,
                                           tool_choice={"type": "function", "function": {"name": "get_weather"}})
    (call,) = first.choices[0].message.tool_calls
    msgs = ask + [first.choices[0].message.model_dump(exclude_none=True),
                  {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temp_c": 21, "sky": "clear"})}]
    r = client.chat.completions.create(model="paw", tools=[WEATHER], messages=msgs, max_tokens=16)
    ch = r.choices[0]
    # the only tool was already called for this user message: no call again
    assert not ch.message.tool_calls and ch.finish_reason == "stop"
    assert isinstance(ch.message.content, str)


def test_long_tool_results_are_cut_and_answered(client):
    # the programs see 1,200 bytes of request + results, cut between characters
    msgs = [{"role": "user", "content": "What is the weather like in Lisbon today?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "\u20ac" * 600}]
    r = client.chat.completions.create(model="paw", tools=[WEATHER], messages=msgs, max_tokens=2)
    assert r.choices[0].finish_reason in ("stop", "length") and not r.choices[0].message.tool_calls


def test_auto_follows_the_relevance_scores(client):
    """tool_choice "auto": the relevance program's P(call) per tool comes back
    beside the answer, and the glue calls the best-scoring tool exactly when
    its P(call) >= 0.5, else answers in plain text.  (Whether the program
    scores well is measured in bench/toolcall.py, not asserted here.)"""
    for text in ("Translate 'good morning' into French.", "What is the weather like in Lisbon today?",
                 "How much will 1500 dollars grow to at 5% a year for 10 years?"):
        r = client.chat.completions.create(model="paw", tools=[INTEREST, WEATHER], max_tokens=8,
                                           messages=[{"role": "user", "content": text}])
        scores = r.model_extra["paw"]["tool_scores"]
        assert set(scores) == {"compound_interest", "get_weather"}
        assert all(0 <= s <= 1 for s in scores.values()), scores
        best = max(scores, key=scores.get)
        calls = r.choices[0].message.tool_calls
        if scores[best] >= 0.5:
            assert r.choices[0].finish_reason == "tool_calls" and len(calls) == 1, (text, scores)
            assert calls[0].function.name == best
            json.loads(calls[0].function.arguments)
        else:
            assert not calls and r.choices[0].finish_reason == "stop", (text, scores)


BAD_TOOLS = [
    ("not-a-list", "tools must be a non-empty array"),
    ([], "tools must be a non-empty array"),
    ([{"type": "retrieval"}], "tools[0] must be"),
    ([{"type": "function", "function": {"description": "no name"}}], "tools[0].function.name"),
    ([{"type": "function", "function": {"name": "bad name!"}}], "tools[0].function.name"),
    ([WEATHER, WEATHER], "two functions are called \"get_weather\""),
    ([{"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}], "of type \"object\""),
    ([{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"a": 3}}}}],
     "parameter \"a\" must be an object"),
    ([{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {},
                                                                    "required": ["x"]}}}], "names no property"),
]


@pytest.mark.parametrize("tools,message", BAD_TOOLS)
def test_malformed_tools_are_rejected(tc_server, client, tools, message):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="paw", tools=tools, messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 400
    err = e.value.body
    assert err["code"] == "invalid_tools" and message in err["message"], err


def test_bad_tool_choice_and_stream_are_rejected(tc_server):
    body = {"model": "paw", "tools": TOOLS, "messages": [{"role": "user", "content": "hi"}]}
    for extra, message in (({"tool_choice": "sometimes"}, "tool_choice must be"),
                           ({"tool_choice": {"type": "function", "function": {"name": "nope"}}}, "not in tools"),
                           ({"stream": True}, "stream is not supported"),
                           ({"messages": [{"role": "system", "content": "x"}]}, "no user message")):
        r = tc_server.post("/v1/chat/completions", json=dict(body, **extra))
        assert r.status_code == 400, r.text
        assert message in r.json()["error"]["message"]


def test_missing_programs_are_named(tmp_path):
    srv = Server(str(tmp_path), "-t", "1")
    try:
        r = requests.post(srv.url + "/v1/chat/completions", timeout=60,
                          json={"model": "paw", "tools": TOOLS, "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "toolcall_programs_missing"
        assert "paw install examples/tool-calling/relevance.paw" in r.json()["error"]["message"]
    finally:
        assert srv.stop() == 0
