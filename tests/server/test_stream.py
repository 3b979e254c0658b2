"""`stream: true` on /v1/chat/completions and /v1/completions sends a
program's output as it is decoded (paw_program_call_stream), in several
chunks that add up to the answer the same request gets unstreamed."""
import json
import time

import openai
import pytest
import requests

from conftest import Server, paw_run, variant

# A free-text program (no closed labels) whose answers are long: the
# session's compiled adapter with a story prompt in SmolLM2's chat format.
STORY = ("<|im_start|>user\nTell a long story about {INPUT_PLACEHOLDER}.<|im_end|>\n"
         "<|im_start|>assistant\n")


@pytest.fixture(scope="module")
def story_server(cache, programs):
    def free(meta):
        meta.pop("labels", None)
    srv = Server(cache, "-t", "2")
    r = srv.post("/api/v1/programs?alias=story",
                 data=variant(programs["bundle"], "Tell a story.", free, STORY))
    assert r.status_code == 201, r.text
    yield srv
    assert srv.stop() == 0


def test_openai_stream_chunks_add_up(story_server, cache):
    client = openai.OpenAI(base_url=story_server.url + "/v1", api_key="unused", max_retries=0)
    for topic in ("a cat", "the sea"):
        want = paw_run(cache, "story", topic, 24)
        assert len(want) > 40
        c = client.chat.completions.create(model="story", max_tokens=24,
                                           messages=[{"role": "user", "content": topic}])
        assert c.choices[0].message.content == want and c.usage.completion_tokens == 24
        chunks = list(client.chat.completions.create(model="story", max_tokens=24, stream=True,
                                                     messages=[{"role": "user", "content": topic}]))
        pieces = [ch.choices[0].delta.content for ch in chunks if ch.choices and ch.choices[0].delta.content]
        assert "".join(pieces) == want
        assert len(pieces) >= 4, pieces            # token by token, not the whole answer at once
        assert chunks[-1].choices[0].finish_reason == "length"
        assert chunks[-1].usage.completion_tokens == 24
        done = client.completions.create(model="story", prompt=topic, max_tokens=24)
        assert done.choices[0].text == want
        chunks = list(client.completions.create(model="story", prompt=topic, max_tokens=24, stream=True))
        pieces = [ch.choices[0].text for ch in chunks if ch.choices and ch.choices[0].text]
        assert "".join(pieces) == want and len(pieces) >= 4


def test_stream_first_chunk_before_the_end(story_server):
    """The first text event arrives well before the last one: the answer is
    sent while it is decoded (64 tokens take a while on any machine)."""
    r = requests.post(story_server.url + "/v1/completions", stream=True, timeout=300,
                      json={"model": "story", "prompt": "a dragon", "max_tokens": 64, "stream": True})
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/event-stream"
    times, text = [], []
    for line in r.iter_lines(decode_unicode=True):
        if line.startswith("data: {"):
            e = json.loads(line[6:])
            if e["choices"][0]["text"]:
                times.append(time.monotonic())
                text.append(e["choices"][0]["text"])
    assert len(text) >= 8
    # Spread over the decoding, not one burst at the end (which would put
    # them within a millisecond of each other).
    assert times[-1] - times[0] > 0.05
