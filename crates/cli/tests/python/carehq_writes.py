"""Writes through `msgdex serve` with the official CareHQ Python client (the
`carehq` package from PyPI), unchanged: create, replace, delete, a batch,
and a read-only key refused.

Run by tests/server.rs with MSGDEX_URL, MSGDEX_ACCOUNT_ID, the writer's
MSGDEX_WRITE_KEY / MSGDEX_WRITE_SECRET and the reader's MSGDEX_API_KEY /
MSGDEX_API_SECRET. MSGDEX_CREATED is the status a create gets: "200" with
`serve --created-as-ok`, "201" without (the client then raises).
"""

import json
import os
import sys

import carehq
from carehq import exceptions

BASE = os.environ["MSGDEX_URL"]
ACCOUNT = os.environ["MSGDEX_ACCOUNT_ID"]

passed = 0
failures = []


def check(name, condition, detail=""):
    global passed
    if condition:
        passed += 1
    else:
        failures.append(f"{name}: {detail}")


writer = carehq.APIClient(
    ACCOUNT, os.environ["MSGDEX_WRITE_KEY"], os.environ["MSGDEX_WRITE_SECRET"], api_base_url=BASE, timeout=10
)
reader = carehq.APIClient(
    ACCOUNT, os.environ["MSGDEX_API_KEY"], os.environ["MSGDEX_API_SECRET"], api_base_url=BASE, timeout=10
)
message = {"channel": "sms", "content": "Zoë wrote\nover two lines", "tags": ["a", "b"], "modified": "2024-05-01 10:00:00"}

if os.environ["MSGDEX_CREATED"] == "200":
    created = writer("PUT", "messages/py-1", data={"message": json.dumps(message)})
    check("create answers the message", created.get("_id") == "py-1" and created.get("tags") == ["a", "b"], created)
else:
    try:
        writer("PUT", "messages/py-1", data={"message": json.dumps(message)})
        check("a 201 raises in the client", False, "no exception")
    except exceptions.APIException as error:
        check("a 201 raises in the client", error.status_code == 201, error.status_code)

stored = reader("GET", "messages/py-1")
check("the created message is read back", stored.get("content") == message["content"], stored)

replaced = writer("PUT", "messages/py-1", data={"message": json.dumps({"_id": "py-1", "channel": "email"})})
check("replace answers the whole new message", replaced.get("channel") == "email" and replaced.get("tags") is None, replaced)

deleted = writer("DELETE", "messages/py-1")
check("delete answers a body the client parses", deleted == {"_id": "py-1", "deleted": True}, deleted)
try:
    reader("GET", "messages/py-1")
    check("a deleted message is gone", False, "still there")
except exceptions.NotFound:
    check("a deleted message is gone", True)
try:
    writer("DELETE", "messages/py-1")
    check("deleting twice is 404", False, "no exception")
except exceptions.NotFound as error:
    check("deleting twice is 404", "nothing was deleted" in error.hint, error.hint)

batch = [{"put": {"_id": "py-2", "channel": "sms"}}, {"put": {"_id": "py-3"}}, {"delete": "py-2"}]
applied = writer("POST", "messages", data={"writes": json.dumps(batch)})
check(
    "a batch answers what each write did",
    applied == {"applied": [
        {"_id": "py-2", "result": "created"}, {"_id": "py-3", "result": "created"},
        {"_id": "py-2", "result": "deleted"},
    ]},
    applied,
)
try:
    writer("POST", "messages", data={"writes": json.dumps([{"put": {"_id": "py-4"}}, {"delete": "absent"}])})
    check("a bad batch is refused", False, "no exception")
except exceptions.NotFound as error:
    check("a bad batch is refused whole", "write 2 of the batch of 2" in error.hint.lower(), error.hint)
try:
    reader("GET", "messages/py-4")
    check("nothing of a refused batch is applied", False, "py-4 exists")
except exceptions.NotFound:
    check("nothing of a refused batch is applied", True)

try:
    writer("PUT", "messages/py-5", data={"message": json.dumps({"channel": "fax"})})
    check("a bad message is refused", False, "no exception")
except exceptions.InvalidRequest as error:
    check("a bad message is refused with the loader's words", "channel" in error.hint, error.hint)

try:
    reader("PUT", "messages/py-6", data={"message": json.dumps({"channel": "sms"})})
    check("a read-only key cannot write", False, "no exception")
except exceptions.Forbidden as error:
    check("a read-only key gets 403", "write" in error.hint, error.hint)
try:
    reader("DELETE", "messages/py-3")
    check("a read-only key cannot delete", False, "no exception")
except exceptions.Forbidden:
    check("a read-only key cannot delete", reader("GET", "messages/py-3").get("_id") == "py-3")

for failure in failures:
    print("FAILED", failure)
print(f"python client writes: {passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
