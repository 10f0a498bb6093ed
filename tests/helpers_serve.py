"""Servers for tests: ``zhplm serve``'s application run by uvicorn in a thread on 127.0.0.1 (a free
port), and a tiny GPT-2 folder saved by transformers (a character vocabulary, as UER's Chinese GPT-2)."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHARS = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经"


def tiny_gpt2(folder: Path) -> Path:
    """A 2-layer GPT-2 with random weights and a BERT character tokenizer, saved by transformers."""
    import torch
    from transformers import BertTokenizer, GPT2Config, GPT2LMHeadModel

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *CHARS]
    tokenizer = BertTokenizer(vocab={t: i for i, t in enumerate(vocab)})
    assert len(tokenizer) == len(vocab)
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(vocab),
        n_positions=1024,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=2,
        eos_token_id=3,
        pad_token_id=0,
    )
    model = GPT2LMHeadModel(config)
    model.generation_config.suppress_tokens = list(range(5))  # random weights: never the special tokens
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, alive: Callable[[], bool], seconds: float = 120) -> None:
    """Poll ``url/health`` until it answers; fail early when the server stopped (``alive`` false)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url + "/health", timeout=2).read()
            return
        except OSError:
            if not alive() or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextmanager
def running(models: dict[str, Path], **options: Any) -> Iterator[tuple[str, Any]]:
    """(base URL, server state) of a server on a free loopback port, stopped (gracefully) on exit."""
    import uvicorn

    from zhplm.serve.app import ServeConfig, create_app
    from zhplm.serve.transport import uvicorn_config

    options.setdefault("store_models", False)  # only the given folders, unless a test asks for the store
    cfg = ServeConfig(**options)
    app, state = create_app(models, cfg)
    port = free_port()
    # the command's own transport settings (header deadline, header size, keep-alive), shorter shutdown
    config = uvicorn_config(
        app,
        host="127.0.0.1",
        port=port,
        header_timeout_s=cfg.header_timeout_s,
        log_level="warning",
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, alive=thread.is_alive)
    try:
        yield url, state
    finally:
        server.should_exit = True
        thread.join(30)
