"""The optional language-model narrator, against a small OpenAI-compatible endpoint the tests start on 127.0.0.1:
its text is used only when every number in it is a fact's, and its API key is never written anywhere."""
from __future__ import annotations

import http.server
import json
import threading

import pytest
import yaml

from ecom_insights.cli import main
from ecom_insights.facts import Fact, narrate, render

FACT = Fact("pop_change:revenue", "pop_change", "revenue", {"current": 287453.75, "previous": 364635.52, "change": -0.2117,
            "start": "2025-12-01", "end": "2025-12-28", "previous_start": "2025-11-03", "previous_end": "2025-11-30"}, 0.9, True)


class FakeChat:
    """A chat-completions endpoint that replies `reply` to every request and records each request."""

    def __init__(self):
        self.reply, self.requests = "", []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                data = json.dumps({"choices": [{"message": {"role": "assistant", "content": outer.reply}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"


@pytest.fixture
def chat():
    fake = FakeChat()
    yield fake
    fake.server.shutdown()


def sentences(lang="en"):
    return [{"lang": lang, "text": render(FACT, lang, "CNY"), "fact_ids": [FACT.id]}]


def test_invented_number_is_refused(chat):
    chat.reply = "Net revenue fell 25.0% to ¥287,453.75, the worst month in three years."
    texts, reason = narrate(sentences(), [FACT], {"url": chat.url, "model": "fake"})
    assert texts == [render(FACT, "en", "CNY")]  # the template sentence is kept
    assert "refused" in reason
    assert "25.0%" in reason
    assert chat.requests[0]["path"] == "/v1/chat/completions"
    assert chat.requests[0]["body"]["model"] == "fake"


def test_faithful_rephrasing_is_used(chat):
    chat.reply = "Compared with the previous period, net revenue dropped 21.2%, reaching ¥287,453.75 (it was ¥364,635.52)."
    texts, reason = narrate(sentences(), [FACT], {"url": chat.url, "model": "fake"})
    assert texts == [chat.reply]
    assert reason == "narrator text used: every number matches a fact"


def test_unreachable_narrator_falls_back():
    texts, reason = narrate(sentences("zh-CN"), [FACT], {"url": "http://127.0.0.1:9/v1", "model": "fake"}, timeout=2)
    assert texts == [render(FACT, "zh-CN", "CNY")]
    assert reason.startswith("narrator failed")


def test_run_with_narrator_keeps_key_secret(chat, tmp_path, monkeypatch):
    secret = "sk-test-5f1c9e0b7a"
    monkeypatch.setenv("SHOP_LLM_KEY", secret)
    chat.reply = "Net revenue was ¥96,000.20 from 2 orders."
    (tmp_path / "orders.csv").write_text("order_id,store_id,ordered_at,amount\nA1,S1,2024-03-01,90000.50\nA2,S1,2024-03-02,5999.70\n")
    plan = {"language": "en", "sources": {"adapter": "tables", "tables": {"sales": {"path": str(tmp_path / "orders.csv")}}},
            "scopes": {"stores": "all"}, "date_ranges": [{"start": "2024-03-01", "end": "2024-03-31"}], "pdf": False,
            "narrator": {"url": chat.url, "model": "fake", "api_key_env": "SHOP_LLM_KEY"}}
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(plan))
    out = tmp_path / "run"
    assert main(["run", str(tmp_path / "plan.yaml"), "--output", str(out)]) == 0
    insights = json.loads((out / "reports/store-S1/2024-03-01_2024-03-31/insights.json").read_text())
    assert insights["narrator"]["used"] is True
    assert [s["text"] for s in insights["sentences"] if s.get("source") == "narrator"] == [chat.reply]
    assert chat.requests[0]["auth"] == f"Bearer {secret}"
    for path in out.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
