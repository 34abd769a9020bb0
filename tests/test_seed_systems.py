"""End to end: for each seed system, an endpoint set up as the README says, and a receiver
that checks exactly what that system's document tells its readers to check.

Each receiver below is the document's own example handler translated line for
line into Python, header names spelled as the document spells them and looked
up with exact case where the document's PHP does (``getallheaders()`` keeps
the case the sender used). They answer 403/401 for anything they would reject.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import stripe
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from .helpers import Invoke

# (exact-case headers, raw body) -> the status the receiver answers with
Check = Callable[[dict[str, str], bytes], int]


@dataclass
class DocumentReceiver:
    check: Check
    statuses: list[int] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def serve() -> Iterator[Callable[[Check], DocumentReceiver]]:
    servers: list[ThreadingHTTPServer] = []

    def start(check: Check) -> DocumentReceiver:
        receiver = DocumentReceiver(check)
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = dict(self.headers.items())  # as sent: getallheaders() keeps the case
                try:
                    status = receiver.check(headers, body)
                except (KeyError, ValueError, AttributeError, TypeError):
                    status = 400  # what a PHP handler's notice or fatal error amounts to
                with lock:
                    receiver.statuses.append(status)
                    receiver.bodies.append(body)
                    receiver.headers.append(headers)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        receiver.url = f"http://127.0.0.1:{server.server_address[1]}/webhook"
        return receiver

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def add_endpoint(invoke: Invoke, url: str, *options: str) -> tuple[int, str]:
    """The README's command for the system, plus --allow-private: the receiver here is on 127.0.0.1."""
    result = invoke("endpoint", "add", url, *options, "--allow-private", "--json", "--show-secret")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    return data["id"], data["secret"]


def enqueue(invoke: Invoke, event_type: str, payload: dict[str, object] | str) -> None:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    result = invoke("enqueue", event_type, text)
    assert result.exit_code == 0, result.output


def process(invoke: Invoke) -> str:
    result = invoke("process", "--time-limit", "3s")
    assert result.exit_code == 0, result.output
    return result.output


def php_hash_hmac(message: bytes, secret: str, raw: bool = False) -> str | bytes:
    """PHP's hash_hmac('sha256', $message, $secret[, true])."""
    mac = hmac.new(secret.encode(), message, hashlib.sha256)
    return mac.digest() if raw else mac.hexdigest()


# --- LeaseFetcher (000): hex HMAC in X-LeaseFetcher-Signature, one deal object per POST ---

LEAD = {
    "id": 7527,
    "message": "Hi there, what colours is this available in?",
    "rental": 139.74,
    "client": {"id": 100, "first_name": "Michael", "last_name": "Bluth"},
    "car": {"cap_id": 86491, "model": "Mirage Hatchback", "manufacturer": "Mitsubishi"},
}


def test_leasefetcher(invoke: Invoke, serve: Callable[[Check], DocumentReceiver]) -> None:
    secret = "YOUR-SECRET-KEY"

    def handler(headers: dict[str, str], content: bytes) -> int:
        signature = headers["X-LeaseFetcher-Signature"]  # $headers['X-LeaseFetcher-Signature']
        expected = php_hash_hmac(content, secret)
        if signature != expected:  # if( $signature !== $expected )
            return 403
        deal = json.loads(content)
        assert deal["client"]["id"] and deal["car"]["cap_id"]
        return 200

    receiver = serve(handler)
    options = "--format raw --signature hex --signature-header X-LeaseFetcher-Signature".split()
    add_endpoint(invoke, receiver.url, *options, "--secret", secret, "--event", "lead.*")
    for n in range(3):
        enqueue(invoke, "lead.new", {**LEAD, "id": LEAD["id"] + n})
    assert process(invoke).startswith("3 requests, 3 events delivered")
    assert receiver.statuses == [200, 200, 200]
    assert [json.loads(body)["id"] for body in receiver.bodies] == [7527, 7528, 7529]


# --- LeaseCloud (001): Stripe-style t=,v1= over "<t>.<body>", a version header, only 200 counts ---


def leasecloud_handler(secret: str) -> Check:
    def handler(headers: dict[str, str], payload: bytes) -> int:
        if headers["LeaseCloud-Version"] != "1.0.0":
            return 400
        parts = [item.split("=", 1) for item in headers["LeaseCloud-Signature"].split(",")]
        timestamp = next(value for key, value in parts if key == "t")
        expected = php_hash_hmac(f"{timestamp}.".encode() + payload, secret)
        if not any(key == "v1" and hmac.compare_digest(value, str(expected)) for key, value in parts):
            return 403
        # Stripe's own verifier agrees (LeaseCloud uses Stripe's scheme).
        stripe.WebhookSignature.verify_header(payload.decode(), headers["LeaseCloud-Signature"], secret, 300)
        event = json.loads(payload)
        assert set(event) == {"id", "action", "data"}
        return 200

    return handler


LEASECLOUD_OPTIONS = (
    "--format raw --signature timestamped --signature-header LeaseCloud-Signature --success 200".split()
    + ["--header", "LeaseCloud-Version: 1.0.0"]
)


def test_leasecloud(invoke: Invoke, serve: Callable[[Check], DocumentReceiver]) -> None:
    secret = "whsec_leasecloud-partner-secret"
    receiver = serve(leasecloud_handler(secret))
    add_endpoint(invoke, receiver.url, *LEASECLOUD_OPTIONS, "--secret", secret)
    enqueue(invoke, "order.accepted", {"id": "evt:sdfgkjshdfg87oihsjdgfb", "action": "order.accepted", "data": {}})
    enqueue(invoke, "order.declined", {"id": "evt:askjshdfg54", "action": "order.declined", "data": {"orderId": 42}})
    assert process(invoke).startswith("2 requests, 2 events delivered")
    assert receiver.statuses == [200, 200]


def test_leasecloud_receivers_keep_accepting_through_a_secret_rotation(
    invoke: Invoke, serve: Callable[[Check], DocumentReceiver]
) -> None:
    old_secret = "whsec_before-rotation"
    still_old = serve(leasecloud_handler(old_secret))
    endpoint_id, _ = add_endpoint(invoke, still_old.url, *LEASECLOUD_OPTIONS, "--secret", old_secret)
    rotated = invoke("endpoint", "rotate-secret", str(endpoint_id), "--json", "--show-secret")
    new_secret = json.loads(rotated.output)["secret"]
    enqueue(invoke, "order.signed", {"id": "evt:1", "action": "order.signed", "data": {"orderId": 42}})
    process(invoke)
    assert still_old.statuses == [200]  # the receiver not yet told of the new secret
    signature = still_old.headers[0]["LeaseCloud-Signature"]
    assert signature.count(",v1=") == 2  # newest first, then the old one
    stripe.WebhookSignature.verify_header(still_old.bodies[0].decode(), signature, new_secret, 300)


# --- Mautic (002): base64 HMAC in Webhook-Signature, types as keys, 10 events per request ---


def test_mautic(invoke: Invoke, serve: Callable[[Check], DocumentReceiver]) -> None:
    secret = "mySecret"

    def handler(headers: dict[str, str], raw_data: bytes) -> int:
        received_signature = headers["Webhook-Signature"]  # $headers['Webhook-Signature']
        computed_signature = base64.b64encode(php_hash_hmac(raw_data, secret, raw=True)).decode()  # type: ignore[arg-type]
        if received_signature != computed_signature:
            return 403
        request_data = json.loads(raw_data)
        for event_type, payloads in request_data.items():
            assert event_type.startswith("mautic.")
            assert all(payload["timestamp"].endswith("+00:00") for payload in payloads)
        return 200

    receiver = serve(handler)
    add_endpoint(invoke, receiver.url, "--format", "mautic", "--secret", secret)
    for n in range(12):
        event_type = "mautic.lead_post_save_new" if n % 3 else "mautic.lead_points_change"
        enqueue(invoke, event_type, {"contact": {"id": n}})
    assert process(invoke).startswith("2 requests, 12 events delivered")
    assert receiver.statuses == [200, 200]
    first = json.loads(receiver.bodies[0])
    assert list(first) == ["mautic.lead_points_change", "mautic.lead_post_save_new"]
    assert sum(len(payloads) for payloads in first.values()) == 10
    assert [p["contact"]["id"] for p in first["mautic.lead_post_save_new"]] == [1, 2, 4, 5, 7, 8]


# --- the lead-management service (003): whsec_ secret, hex HMAC, event and delivery id headers ---


def test_lead_management_service(invoke: Invoke, serve: Callable[[Check], DocumentReceiver]) -> None:
    webhook_secret = "whsec_abc123def456"
    processed: set[str] = set()

    def webhook_handler(headers: dict[str, str], body: bytes) -> int:
        lookup = {name.lower(): value for name, value in headers.items()}  # Flask's headers.get ignores case
        signature = lookup.get("x-webhook-signature")
        if not signature:
            return 401
        payload = body.decode()  # request.get_data(as_text=True)
        expected = hmac.new(webhook_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, expected):
            return 401
        event = json.loads(body)
        delivery_id = lookup["x-webhook-delivery-id"]
        assert event["event"] == lookup["x-webhook-event"] and lookup["content-type"] == "application/json"
        processed.add(delivery_id)
        return 200

    receiver = serve(webhook_handler)
    add_endpoint(invoke, receiver.url, "--format", "raw", "--signature", "hex", "--secret", webhook_secret)
    data = {"id": "lead_123", "name": "John Doe", "email": "john@example.com"}
    enqueue(invoke, "new_lead", {"event": "new_lead", "timestamp": "2025-01-01T12:00:00Z", "data": data})
    enqueue(invoke, "lead_update", {"event": "lead_update", "timestamp": "2025-01-01T12:00:00Z", "data": data})
    process(invoke)
    assert receiver.statuses == [200, 200]
    assert len(processed) == 2  # a delivery id per request, for de-duplication
    assert [h["X-Webhook-Event"] for h in receiver.headers] == ["new_lead", "lead_update"]


# --- Offerte Adviseur (004): lower-case x-offerte-adviseur-signature, {id, type, payload} ---


def test_offerte_adviseur(invoke: Invoke, serve: Callable[[Check], DocumentReceiver]) -> None:
    secret = "offerte-secret"

    def handler(headers: dict[str, str], payload: bytes) -> int:
        signature = headers["x-offerte-adviseur-signature"]  # $request['headers']['x-offerte-adviseur-signature']
        hash_ = php_hash_hmac(payload, secret)
        if not hmac.compare_digest(str(hash_), signature):  # hash_equals($hash, $signature)
            return 403
        assert json.loads(payload)["type"] == "lead.created"
        return 200

    receiver = serve(handler)
    options = "--format raw --signature hex --signature-header x-offerte-adviseur-signature".split()
    add_endpoint(invoke, receiver.url, *options, "--secret", secret)
    enqueue(invoke, "lead.created", {"id": "a056V7R7NmNRjl70", "type": "lead.created", "payload": {"lead_id": 1}})
    process(invoke)
    assert receiver.statuses == [200]


# --- beyond the seed documents: Standard Webhooks and GitHub's form ---


def test_standard_webhooks_through_a_rotation(invoke: Invoke, serve: Callable[[Check], DocumentReceiver]) -> None:
    secrets: dict[str, str] = {}

    def handler(headers: dict[str, str], body: bytes) -> int:
        try:
            Webhook(secrets["receiver"]).verify(body, headers)
        except WebhookVerificationError:
            return 401
        return 204

    receiver = serve(handler)
    endpoint_id, secrets["receiver"] = add_endpoint(invoke, receiver.url, "--signature", "standard")
    enqueue(invoke, "invoice.paid", {"id": 1})
    process(invoke)
    rotated = json.loads(invoke("endpoint", "rotate-secret", str(endpoint_id), "--json", "--show-secret").output)
    enqueue(invoke, "invoice.paid", {"id": 2})
    process(invoke)  # the receiver still has the old secret
    secrets["receiver"] = rotated["secret"]
    enqueue(invoke, "invoice.paid", {"id": 3})
    process(invoke)  # and now the new one
    assert receiver.statuses == [204, 204, 204]
    assert len(receiver.headers[1]["webhook-signature"].split(" ")) == 2


def test_github_style_signature(invoke: Invoke, serve: Callable[[Check], DocumentReceiver]) -> None:
    secret = "gh-secret"

    def handler(headers: dict[str, str], body: bytes) -> int:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return 200 if hmac.compare_digest(headers["X-Hub-Signature-256"], expected) else 401

    receiver = serve(handler)
    options = "--signature hex --signature-header X-Hub-Signature-256 --signature-prefix sha256=".split()
    add_endpoint(invoke, receiver.url, *options, "--secret", secret)
    enqueue(invoke, "push", {"ref": "main"})
    process(invoke)
    assert receiver.statuses == [200]
