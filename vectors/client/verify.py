#!/usr/bin/env python3
"""An independent replay of vectors/client/pairwise.json (PROTOCOL.md §1 and §9.3) and
vectors/client/first_post.json (§10.1) from the text alone, in Python's standard library: each
pairwise payload's and each first post's bytes, built from its inputs; and state.json (§9.6,
format client_state) through state.py beside this file, which needs `cryptography` and
`kyber-py`; and records.json (§9.6.1, format records) through records.py beside it.
Run: python3 vectors/client/verify.py"""
import importlib.util, json, pathlib, sys

H = bytes.fromhex

def varint(n):
    out = b""
    while True:
        b = n & 0x7F; n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n: return out

def blob(b):  # a byte string: varint length, then the bytes
    return varint(len(b)) + b

def option(v, enc):  # None: 0x00; Some(x): 0x01 || x
    return b"\x00" if v is None else b"\x01" + enc(v)

def stamp(s):  # Stamp = { time: varint, device: [16] }
    return varint(s["time"]) + H(s["device"])

def boolean(b):
    return b"\x01" if b else b"\x00"

KINDS = ["distribution", "grant", "invite", "accept", "decline", "withdraw", "remove",
         "key_update", "group_access", "removed", "contact_key", "did", "settings"]

def payload(kind, i):
    body = varint(KINDS.index(kind))
    if kind in ("distribution", "grant"):
        body += blob(H(i["bytes"]))
    elif kind == "invite":
        body += option(i["note"], lambda n: blob(n.encode()))
    elif kind == "group_access":
        body += H(i["group"]) + varint(i["epoch"]) + H(i["secret"])
    elif kind == "removed":
        body += H(i["group"]) + varint(i["epoch"])
    elif kind == "contact_key":
        body += H(i["key"]) + stamp(i["stamp"]) + stamp(i["replaces"])
    elif kind == "did":
        body += H(i["with"]) + varint(i["step"]) + option(i["key"], H) + stamp(i["seen"])
    elif kind == "settings":
        body += (boolean(i["read_receipts"]) + boolean(i["typing_indicators"])
                 + boolean(i["sponsored_messages"]) + stamp(i["stamp"]))
    return b"\x01" + body

def first_post(i):  # version 1 without devices, version 2 with them
    participants = varint(len(i["participants"])) + b"".join(
        H(p["member"]) + H(p["identity"]) for p in i["participants"])
    if not i["devices"]:
        return b"\x01" + participants + H(i["post"])
    devices = varint(len(i["devices"])) + b"".join(
        H(d["device"]) + H(d["member"]) for d in i["devices"])
    return b"\x02" + participants + devices + H(i["post"])

here = pathlib.Path(__file__).parent
failures = 0
for c in json.loads((here / "pairwise.json").read_text())["cases"]:
    got, want = payload(c["kind"], c["inputs"]), H(c["wire"])
    if got != want:
        failures += 1; print("MISMATCH", c["kind"], got.hex(), want.hex())
for c in json.loads((here / "first_post.json").read_text())["cases"]:
    got, want = first_post(c["inputs"]), H(c["wire"])
    if got != want:
        failures += 1; print("MISMATCH", c["name"], got.hex(), want.hex())
print("pairwise and first post vectors:", "all match" if not failures else f"{failures} mismatches")
spec = importlib.util.spec_from_file_location("client_state", here / "state.py")
state = importlib.util.module_from_spec(spec)
spec.loader.exec_module(state)
print(f"state.json: {state.replay(here / 'state.json')} cases: ok")  # raises, naming case and field, on a difference
spec = importlib.util.spec_from_file_location("client_records", here / "records.py")
records = importlib.util.module_from_spec(spec)
spec.loader.exec_module(records)
print(f"records.json: {records.replay(here / 'records.json')} cases: ok")  # raises likewise
sys.exit(1 if failures else 0)
