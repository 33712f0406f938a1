"""Drives `msgdex serve` with the official CareHQ Python client (the
`carehq` package from PyPI) and checks every answer.

Run by tests/server.rs with MSGDEX_URL, MSGDEX_BIN, MSGDEX_DATA and the
MSGDEX_ACCOUNT_ID / MSGDEX_API_KEY / MSGDEX_API_SECRET of the server.
"""

import json
import os
import subprocess
import sys
import urllib.parse

import carehq
import carehq.client
from carehq import exceptions

BASE = os.environ["MSGDEX_URL"]
ACCOUNT = os.environ["MSGDEX_ACCOUNT_ID"]
KEY = os.environ["MSGDEX_API_KEY"]
SECRET = os.environ["MSGDEX_API_SECRET"]

passed = 0
failures = []


def check(name, condition, detail=""):
    global passed
    if condition:
        passed += 1
    else:
        failures.append(f"{name}: {detail}")


def expected_list(params):
    """The answer of `msgdex list` for the same parameters."""
    query = urllib.parse.urlencode(params, doseq=True)
    result = subprocess.run(
        [os.environ["MSGDEX_BIN"], "list", "--data", os.environ["MSGDEX_DATA"], query],
        capture_output=True,
        text=True,
        check=False,
    )
    return json.loads(result.stdout)


client = carehq.APIClient(ACCOUNT, KEY, SECRET, api_base_url=BASE, timeout=10)

for params in [
    {
        "attributes": ["content", "correspondent", "date_time"],
        "filters-channel": ["sms"],
        "filters-direction": ["inbound"],
        "sort_by": "date_time",
    },
    {
        "filters-q": "Zoë",
        "sort_by": ["-date_time", "created"],
        "per_page": 3,
        "page": 2,
        "attributes": ["tags", "invoices", "subject"],
    },
    {
        "filters-location": ["6724fbc74f73a2cebf6377fa", "6724fbc74f73a2cebf6377fb"],
        "filters-read": "no",
        "filters-start_date": "2023-06-01",
        "filters-modified_after": "2024-01-01 00:00:00",
        "sort_by": "-modified",
    },
]:
    page = client("GET", "messages", params=params)
    want = expected_list(params)
    check(f"list {params}", page == want, f"{page} != {want}")

message = client("GET", "messages/6724fbcb4f73a2cebf638860")
check("retrieve", message.get("subject") == "Douglas Court brochure" and len(message) == 31, message)
unicode_id = client("GET", "messages/Ä-präfix-10")
check("retrieve a non-ASCII Id", unicode_id.get("_id") == "Ä-präfix-10", unicode_id)

try:
    client("GET", "messages", params={"per_page": 101, "colour": "red"})
    check("invalid request raises", False, "no exception")
except exceptions.InvalidRequest as error:
    check("arg_errors keys", set(error.arg_errors) == {"per_page", "colour"}, error.arg_errors)

try:
    client("GET", "messages/no-such-message")
    check("not found raises", False, "no exception")
except exceptions.NotFound as error:
    check("not found hint", bool(error.hint), error.hint)

check(
    "rate limit attributes",
    client.rate_limit is not None and client.rate_limit_remaining is not None and client.rate_limit_reset is not None,
    (client.rate_limit, client.rate_limit_remaining, client.rate_limit_reset),
)

wrong = carehq.APIClient(ACCOUNT, KEY, "not-the-secret", api_base_url=BASE, timeout=10)
try:
    wrong("GET", "messages")
    check("wrong secret raises", False, "no exception")
except exceptions.Unauthorized:
    check("wrong secret raises", True)

# Replay: the same nonce twice within the window.
original = carehq.client.secrets.token_urlsafe
carehq.client.secrets.token_urlsafe = lambda _: "the-same-nonce-every-time"
try:
    client("GET", "messages")
    try:
        client("GET", "messages")
        check("replayed nonce raises", False, "no exception")
    except exceptions.Unauthorized:
        check("replayed nonce raises", True)
finally:
    carehq.client.secrets.token_urlsafe = original

for failure in failures:
    print("FAILED", failure)
print(f"python client: {passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
