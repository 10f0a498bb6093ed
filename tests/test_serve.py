"""``zhplm serve`` through the official ``openai`` client and raw HTTP: results equal zhplm's own
pipelines and transformers' ``generate``, every limit answers with its status, hostile requests leave
the server answering the next good one."""

from __future__ import annotations

import base64
import json
import re
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="zhplm[serve] is not installed")
openai = pytest.importorskip("openai")

import zhplm  # noqa: E402
from helpers_converted import converted_bert  # noqa: E402
from helpers_serve import running, tiny_gpt2  # noqa: E402

KEY = "test-key-123"
TEXTS = ["中国的首都是北京", "我们是人", "他在上海工作了很多年", "大国"]


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("serve")
    bert = converted_bert(tmp)
    shutil.move(str(bert), str(tmp / "tiny-bert"))
    return {"tiny-bert": tmp / "tiny-bert", "tiny-gpt2": tiny_gpt2(tmp / "tiny-gpt2")}


@pytest.fixture(scope="module")
def server(dirs: dict[str, Path]) -> Iterator[tuple[str, Any]]:
    with running(
        dirs,
        api_key=KEY,
        max_models=4,
        max_inputs=64,
        max_tokens=256,
        body_timeout_s=2.0,
        max_body_bytes=256 * 1024,
    ) as s:
        yield s


@pytest.fixture()
def client(server: tuple[str, Any]) -> Any:
    return openai.OpenAI(base_url=server[0] + "/v1", api_key=KEY, max_retries=0, timeout=60)


def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    h = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json", **(headers or {})}
    req = urllib.request.Request(url, data=body, headers=h, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as res:
            return res.status, {k.lower(): v for k, v in res.headers.items()}, json.loads(res.read())
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, json.loads(err.read() or b"{}")


def good_request_works(client: Any) -> None:
    out = client.embeddings.create(model="tiny-bert", input="好")
    assert len(out.data) == 1 and len(out.data[0].embedding) > 0


# ------------------------------------------------------------------ results


@pytest.mark.oracle
def test_embeddings_equal_the_pipeline_in_both_encodings(client: Any, dirs: dict[str, Path]) -> None:
    expected = zhplm.pipeline("embeddings", dirs["tiny-bert"])(TEXTS)
    for fmt in ("float", "base64"):
        got = client.embeddings.create(model="tiny-bert", input=TEXTS, encoding_format=fmt)
        data = sorted(got.data, key=lambda d: d.index)
        if fmt == "base64":  # asked for explicitly, the client hands the string over as is
            rows = np.stack([np.frombuffer(base64.b64decode(d.embedding), "<f4") for d in data])
        else:
            rows = np.array([d.embedding for d in data], np.float32)
        np.testing.assert_allclose(rows, expected, atol=1e-5)
    default = client.embeddings.create(model="tiny-bert", input=TEXTS[0])  # the client's own default
    np.testing.assert_allclose(np.array(default.data[0].embedding), expected[0], atol=1e-5)


@pytest.mark.oracle
def test_concurrent_requests_are_batched_and_each_gets_its_own_rows(
    client: Any, server: tuple[str, Any], dirs: dict[str, Path]
) -> None:
    texts = [f"{TEXTS[i % 4]}{'的' * (i % 7)}" for i in range(48)]
    expected = zhplm.pipeline("embeddings", dirs["tiny-bert"])(texts)
    client.embeddings.create(model="tiny-bert", input="热身")  # loaded before the burst
    state = server[1]
    before = state.batches

    def one(i: int) -> Any:
        return client.embeddings.create(model="tiny-bert", input=[texts[i], texts[(i + 1) % 48]]).data

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(48)))
    for i, data in enumerate(results):
        np.testing.assert_allclose(data[0].embedding, expected[i], atol=1e-5)
        np.testing.assert_allclose(data[1].embedding, expected[(i + 1) % 48], atol=1e-5)
    assert state.batches - before < 48  # at least some requests shared a forward


@pytest.mark.oracle
def test_fill_mask_route_equals_the_pipeline(server: tuple[str, Any], dirs: dict[str, Path]) -> None:
    text = "中国的首都是[MASK]京"
    expected = zhplm.pipeline("fill-mask", dirs["tiny-bert"], top_k=3)(text)
    status, _, body = post(
        server[0] + "/v1/fill-mask", json.dumps({"model": "tiny-bert", "input": text, "top_k": 3}).encode()
    )
    assert status == 200
    assert [p["token_id"] for p in body["data"][0]["masks"][0]] == [p.token_id for p in expected[0]]


@pytest.mark.oracle
def test_similarity_route_is_the_cosine_of_the_pipeline_embeddings(
    server: tuple[str, Any], dirs: dict[str, Path]
) -> None:
    vectors = zhplm.pipeline("embeddings", dirs["tiny-bert"], normalize=False)(TEXTS)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    body = json.dumps({"model": "tiny-bert", "source": TEXTS[0], "targets": TEXTS[1:]}).encode()
    status, _, got = post(server[0] + "/v1/similarity", body)
    assert status == 200
    np.testing.assert_allclose([d["score"] for d in got["data"]], unit[1:] @ unit[0], atol=1e-5)
    assert [d["text"] for d in got["data"]] == TEXTS[1:]


def _greedy_reference(folder: Path, prompt: str, n: int) -> str:
    """transformers' own greedy generate on the folder, decoded like the server (no spaces between chars)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder)).eval()
    ids = tok(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        out = model.generate(
            ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, do_sample=False, pad_token_id=0
        )
    return str(tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True)).replace(" ", "")


def test_chat_streaming_yields_the_tokens_of_a_greedy_call(client: Any, dirs: dict[str, Path]) -> None:
    messages = [{"role": "user", "content": "中国是大国"}]
    whole = client.chat.completions.create(model="tiny-gpt2", messages=messages, max_tokens=12, temperature=0)
    stream = client.chat.completions.create(
        model="tiny-gpt2", messages=messages, max_tokens=12, temperature=0, stream=True
    )
    chunks = list(stream)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1  # really streamed
    assert streamed == whole.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason in ("length", "stop")
    # a model without a dialogue format continues the one user message, as transformers itself does
    assert whole.choices[0].message.content == _greedy_reference(dirs["tiny-gpt2"], "中国是大国", 12)


def test_completions_stream_and_not(client: Any, dirs: dict[str, Path]) -> None:
    whole = client.completions.create(model="tiny-gpt2", prompt="我们是", max_tokens=10, temperature=0)
    parts = [
        c.choices[0].text
        for c in client.completions.create(
            model="tiny-gpt2", prompt="我们是", max_tokens=10, temperature=0, stream=True
        )
    ]
    assert "".join(parts) == whole.choices[0].text == _greedy_reference(dirs["tiny-gpt2"], "我们是", 10)
    assert whole.usage.completion_tokens == 10 and whole.choices[0].finish_reason == "length"


def test_models_health_and_metrics(client: Any, server: tuple[str, Any]) -> None:
    ids = {m.id: m for m in client.models.list().data}
    assert set(ids) == {"tiny-bert", "tiny-gpt2"}
    assert json.loads(urllib.request.urlopen(server[0] + "/health").read())["status"] == "ok"
    req = urllib.request.Request(server[0] + "/metrics", headers={"Authorization": f"Bearer {KEY}"})
    text = urllib.request.urlopen(req).read().decode()
    sample = re.compile(r'^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+]+$')
    for line in text.splitlines():
        assert line.startswith("# ") or sample.match(line), line
    assert re.search(r'zhplm_requests_total\{method="GET",route="/health",status="200"\} [1-9]', text)


# ------------------------------------------------------------------ errors


def test_every_error_status(client: Any, server: tuple[str, Any]) -> None:
    url = server[0]
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=url + "/v1", api_key="wrong", max_retries=0).models.list()
    status, headers, body = post(
        url + "/v1/embeddings", b'{"model":"tiny-bert","input":"x"}', {"Authorization": ""}
    )
    assert status == 401 and "missing API key" in body["error"]["message"]
    assert headers.get("www-authenticate") == "Bearer"
    with pytest.raises(openai.NotFoundError) as nf:
        client.embeddings.create(model="no-such-model", input="x")
    assert "tiny-bert" in str(nf.value) and "tiny-gpt2" in str(nf.value)
    with pytest.raises(openai.BadRequestError) as wrong:
        client.embeddings.create(model="tiny-gpt2", input="x")
    assert "text-generation" in str(wrong.value)
    with pytest.raises(openai.BadRequestError) as wrong2:
        client.chat.completions.create(model="tiny-bert", messages=[{"role": "user", "content": "x"}])
    assert "embeddings" in str(wrong2.value) and "fill-mask" in str(wrong2.value)
    with pytest.raises(openai.UnprocessableEntityError) as many:
        client.embeddings.create(model="tiny-bert", input=["好"] * 5000)
    assert "limit is 64" in str(many.value)
    with pytest.raises(openai.UnprocessableEntityError) as long:
        client.embeddings.create(model="tiny-bert", input="好" * 5000)
    assert "limit is 4096" in str(long.value)
    for bad in (-1, 0, 10**9):
        with pytest.raises(openai.UnprocessableEntityError) as tokens:
            client.completions.create(model="tiny-gpt2", prompt="我", max_tokens=bad)
        assert "between 1 and 256" in str(tokens.value)
    for stream in (False, True):  # past the model's 1024 positions: refused before any text is streamed
        with pytest.raises(openai.UnprocessableEntityError) as window:
            client.completions.create(model="tiny-gpt2", prompt="我" * 1000, max_tokens=100, stream=stream)
        assert "1024 positions" in str(window.value)
    status, _, body = post(url + "/v1/embeddings", b"x" * (300 * 1024))
    assert status == 413 and "limit" in body["error"]["message"]
    status, _, body = post(
        url + "/v1/fill-mask", json.dumps({"model": "tiny-bert", "input": "没有掩码"}).encode()
    )
    assert status == 422 and "[MASK]" in body["error"]["message"]
    good_request_works(client)


def test_hostile_requests_leave_the_server_answering(client: Any, server: tuple[str, Any]) -> None:
    url = server[0]
    deep = b'{"model":"tiny-bert","input":' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    status, _, body = post(url + "/v1/embeddings", deep)
    assert status == 422 and "nested" in body["error"]["message"]
    status, _, body = post(url + "/v1/embeddings", b'{"model":"tiny-bert","input":"\xff\xfe"}')
    assert status == 400 and "UTF-8" in body["error"]["message"]
    status, _, body = post(url + "/v1/embeddings", b'{"model": "tiny-bert", "input": [1, 2, 3]}')
    assert status == 422
    status, _, _ = post(url + "/v1/embeddings", b"{not json")
    assert status == 400
    port = int(url.rsplit(":", 1)[1])

    def raw(data: bytes, read: bool = True) -> bytes:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(data)
        if not read:
            return b""
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        s.close()
        return out

    # a chunked body with no Content-Length, growing past the limit
    head = f"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    chunk = b"a" * 65536
    piece = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    assert raw(head.encode() + piece * 5 + b"0\r\n\r\n").startswith(b"HTTP/1.1 413")
    # slow clients: one never finishes its headers, one announces a body and never sends it
    loris = socket.create_connection(("127.0.0.1", port))
    loris.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    slow = socket.create_connection(("127.0.0.1", port), timeout=10)
    slow.sendall(
        f"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nContent-Length: 100\r\n\r\n{{".encode()
    )
    good_request_works(client)  # answered while both hang
    started = time.monotonic()
    answer = slow.recv(65536)
    assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 10
    loris.close()
    slow.close()
    good_request_works(client)


# ------------------------------------------------------------------ pool and overload


@pytest.mark.oracle
def test_one_load_for_concurrent_requests_and_lru_eviction(dirs: dict[str, Path]) -> None:
    with running(dirs, max_models=1) as (url, state):
        c = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=60)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: c.embeddings.create(model="tiny-bert", input=TEXTS[i % 4]), range(8)))
        assert state.pool.loads == 1
        post(url + "/v1/fill-mask", json.dumps({"model": "tiny-bert", "input": "我[MASK]"}).encode())
        assert state.pool.loads == 2 and state.pool.evictions == 1
        assert [key for key in state.pool.resident] == [("tiny-bert", "fill-mask")]
        c.embeddings.create(model="tiny-bert", input="好")
        assert state.pool.loads == 3 and state.pool.evictions == 2


@pytest.mark.oracle
def test_bf16_serves_a_bf16_model_close_to_fp32(dirs: dict[str, Path]) -> None:
    import torch

    text = "中国的首都是[MASK]京"
    with running(dirs, dtype="bf16") as (url, state):
        status, _, body = post(
            url + "/v1/fill-mask", json.dumps({"model": "tiny-bert", "input": text}).encode()
        )
        assert status == 200
        assert state.pool.resident[("tiny-bert", "fill-mask")].value.model.dtype == torch.bfloat16
        status, _, emb = post(
            url + "/v1/embeddings", json.dumps({"model": "tiny-bert", "input": TEXTS}).encode()
        )
    expected = zhplm.pipeline("embeddings", dirs["tiny-bert"])(TEXTS)
    got = np.array([d["embedding"] for d in emb["data"]], np.float32)
    assert status == 200 and np.abs(got - expected).max() < 0.05
    top = zhplm.pipeline("fill-mask", dirs["tiny-bert"])(text)[0][0]
    assert top.token_id in [
        p["token_id"] for p in body["data"][0]["masks"][0][:3]
    ]  # bf16 may reorder near ties


def test_overload_answers_429_and_503_with_retry_after(dirs: dict[str, Path]) -> None:
    """A generate function that waits for the test holds the only slot; the queues are tiny."""
    gate = threading.Event()

    def held(loaded: Any, req: Any) -> Iterator[str]:
        gate.wait(30)
        yield "好"

    with running(
        dirs,
        max_generations=1,
        max_waiting_generations=1,
        generate=held,
        max_queued_inputs=2,
        batch_wait_ms=200,
    ) as (url, _):
        body = json.dumps({"model": "tiny-gpt2", "prompt": "我", "max_tokens": 2}).encode()
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(post, url + "/v1/completions", body)
            time.sleep(1.0)
            second = pool.submit(post, url + "/v1/completions", body)
            time.sleep(0.5)
            status, headers, err = post(url + "/v1/completions", body)
            assert status == 429 and headers.get("retry-after") == "2", err
            # generation holds every slot; encoder traffic still flows
            status, _, _ = post(
                url + "/v1/embeddings", json.dumps({"model": "tiny-bert", "input": "好"}).encode()
            )
            assert status == 200 and not first.done()
            gate.set()
            assert first.result()[0] == 200 and second.result()[0] == 200
        # the embeddings queue takes 2 inputs; the batcher waits 200 ms for company
        with ThreadPoolExecutor(2) as pool:
            warm = post(url + "/v1/embeddings", json.dumps({"model": "tiny-bert", "input": "热"}).encode())
            assert warm[0] == 200
            a = pool.submit(
                post,
                url + "/v1/embeddings",
                json.dumps({"model": "tiny-bert", "input": ["一", "二"]}).encode(),
            )
            time.sleep(0.05)
            status, headers, err = post(
                url + "/v1/embeddings", json.dumps({"model": "tiny-bert", "input": "三"}).encode()
            )
            assert status == 503 and headers.get("retry-after") == "1", err
            assert a.result()[0] == 200


# ------------------------------------------------------------------ the command


def test_cli_serves_and_a_sigterm_lets_the_running_stream_finish(
    tmp_path: Path, dirs: dict[str, Path]
) -> None:
    import os
    import signal
    import subprocess
    import sys

    from helpers_serve import free_port, wait_healthy

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src"), "ZHPLM_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "zhplm", "serve", str(dirs["tiny-gpt2"]), "--port", str(port), "--preload"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, alive=lambda: proc.poll() is None)
        c = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=60)
        stream = c.completions.create(
            model="tiny-gpt2", prompt="我们", max_tokens=200, temperature=0, stream=True
        )
        first = next(iter(stream))
        proc.send_signal(signal.SIGTERM)
        rest = list(stream)
        assert rest and rest[-1].choices[0].finish_reason == "length"  # the stream ran to its end
        assert len("".join(c.choices[0].text for c in [first, *rest])) > 100
        # uvicorn re-raises the signal once it has shut down cleanly (the conventional exit status)
        assert proc.wait(60) in (0, -signal.SIGTERM)
        log = proc.stdout.read().decode() if proc.stdout else ""
        assert "Waiting for application shutdown" in log and "Finished server process" in log, log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_catalog_api_filters_and_static_files_stay_inside(server: tuple[str, Any]) -> None:
    url = server[0]

    def get(path: str) -> tuple[int, Any]:
        req = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {KEY}"})
        try:
            with urllib.request.urlopen(req, timeout=30) as res:
                raw = res.read()
                return res.status, json.loads(
                    raw
                ) if res.headers.get_content_type() == "application/json" else raw
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    status, body = get("/api/catalog?q=legal&family=BERT")
    assert status == 200 and [r["id"] for r in body["rows"]] == [
        r.id for r in zhplm.search("legal") if r.family == "BERT"
    ]
    assert body["rows"] and all(r["family"] == "BERT" for r in body["rows"])
    status, body = get("/api/catalog?section=Multi-Modal")
    assert status == 200 and {r["section"] for r in body["rows"]} == {"Multi-Modal"}
    assert body["total"] == len(zhplm.list_models(section="Multi-Modal"))
    status, _ = get("/api/catalog/no-such-row")
    assert status == 404
    for path in ("/static/app.js", "/static/index.html"):
        assert get(path)[0] == 200
    for path in (
        "/static/..%2F..%2F__init__.py",
        "/static/%2e%2e/app.py",
        "/static/app.py",
        "/static/../app.py",
    ):
        assert get(path)[0] == 404, path


@pytest.mark.oracle
def test_a_converted_model_in_the_store_is_served_by_its_catalog_id(
    dirs: dict[str, Path], tmp_path: Path
) -> None:
    from zhplm.sources.store import Store

    store = Store()  # this test's own ZHPLM_HOME
    raw = tmp_path / "raw"
    shutil.copytree(dirs["tiny-bert"], raw)
    store.publish("openclap-civil", raw, source="test", url=None)
    shutil.copytree(dirs["tiny-bert"], tmp_path / "converted")
    store.set_converted("openclap-civil", tmp_path / "converted")
    with running({}, store_models=True) as (url, _):
        c = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=60)
        assert "openclap-civil" in {m.id for m in c.models.list().data}
        got = c.embeddings.create(model="openclap-civil", input=TEXTS[:2])
        np.testing.assert_allclose(
            [d.embedding for d in got.data],
            zhplm.pipeline("embeddings", dirs["tiny-bert"])(TEXTS[:2]),
            atol=1e-5,
        )
        detail = json.loads(urllib.request.urlopen(url + "/api/catalog/openclap-civil").read())
        assert detail["store"] == {"present": True, "converted": True, "served": True, "loaded": True}


def test_slow_loris_and_idle_connections_are_closed_while_good_requests_are_answered(
    dirs: dict[str, Path],
) -> None:
    """60 connections that never send a byte, 8 that trickle their headers a byte every 0.1 s, one with
    20 KiB of headers (431): a good request is answered promptly throughout; past the 1.5 s header deadline the
    slow and idle ones are answered 408 and closed (the tricklers although they never stop sending)."""
    with running(dirs, header_timeout_s=1.5) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        c = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=30)
        good_request_works(c)  # the model is loaded before the clock matters
        idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(60)]
        head = (
            b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Pad: "
            + b"a" * 200
        )
        stop = threading.Event()
        closed_after: dict[int, float] = {}
        started = time.monotonic()

        def trickle(n: int) -> None:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            try:
                for byte in head:
                    if stop.is_set():
                        return
                    s.sendall(bytes([byte]))
                    time.sleep(0.1)
            except OSError:  # closed by the server while still sending
                closed_after[n] = time.monotonic() - started
            finally:
                s.close()

        threads = [threading.Thread(target=trickle, args=(n,), daemon=True) for n in range(8)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        for _ in range(3):  # answered promptly while every slow client hangs on
            t0 = time.monotonic()
            good_request_works(c)
            assert time.monotonic() - t0 < 2.0
        big = socket.create_connection(("127.0.0.1", port), timeout=10)
        big.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"b" * (20 * 1024) + b"\r\n\r\n")
        assert big.recv(65536).startswith(b"HTTP/1.1 431")
        big.close()
        time.sleep(2.5)
        for s in idle:  # each got its 408 and then the end of the connection
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 408"), answer
            s.close()
        for t in threads:
            t.join(10)
        stop.set()
        assert sorted(closed_after) == list(range(8))  # every trickler was cut off …
        assert all(seconds < 5 for seconds in closed_after.values()), closed_after  # … near the deadline
        good_request_works(c)


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_memory_trim_gives_freed_heap_back_at_most_every_interval() -> None:
    """Freed heap holes (what a batch of a new shape leaves behind) go back to the OS on a trim, and the
    trim runs once per interval however many forwards end in it."""
    from zhplm.serve.batching import MemoryTrim

    trim = MemoryTrim(every_s=0)
    if trim._trim is None or not Path("/proc/self/status").exists():
        pytest.skip("malloc_trim is glibc's (Linux)")
    blocks = [np.ones(12_000) for _ in range(4000)]  # ~96 KB each: heap, not mmap; ~370 MiB
    kept = blocks[::50]  # pinned blocks leave holes that glibc cannot give back by itself
    del blocks
    before = _rss_mib()
    trim()
    assert trim.trims == 1
    assert _rss_mib() < before - 200, "the freed holes stayed resident"
    assert len(kept) == 80
    rare = MemoryTrim(every_s=3600)
    rare()
    rare()
    assert rare.trims == 0  # within its first interval: no trim yet


def test_two_folders_of_one_name_are_refused_before_the_port_opens(
    dirs: dict[str, Path], tmp_path: Path
) -> None:
    from zhplm.errors import ConfigError
    from zhplm.serve import model_dirs

    for side in ("a", "b"):
        shutil.copytree(dirs["tiny-bert"], tmp_path / side / "tiny-bert")
    with pytest.raises(ConfigError, match="two models would be served as 'tiny-bert'"):
        model_dirs([tmp_path / "a" / "tiny-bert", tmp_path / "b" / "tiny-bert"])
    same = model_dirs([tmp_path / "a" / "tiny-bert", tmp_path / "a" / "tiny-bert"])
    assert list(same) == ["tiny-bert"]
