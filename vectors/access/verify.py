#!/usr/bin/env python3
"""An independent replay of vectors/access/access.json from PROTOCOL.md §11 alone, in Python's
standard library: group access keys, the XOR of contact keys, and the byte layout of every
submission and access update. Run: python3 vectors/access/verify.py"""
import hashlib, hmac, json, pathlib, sys

H = bytes.fromhex

def expand(prk, info, n):
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest(); out += t; i += 1
    return out[:n]

def varint(n):
    out = b""
    while True:
        b = n & 0x7F; n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n: return out

def blob(b):  # a byte string: varint length, then the bytes
    return varint(len(b)) + b

v = json.loads((pathlib.Path(__file__).parent / "access.json").read_text())
failures = 0
def check(what, got, want):
    global failures
    if got != want:
        failures += 1; print("MISMATCH", what, got.hex(), want.hex())

for c in v["group_access"]:
    key = expand(H(c["secret"]), b"missive/v1/group-access" + H(c["mailbox"]), 16)
    check("group key", key, H(c["key"]))

keys = [H(k) for k in v["combine"]["keys"]]
combined = bytes(16)
for k in keys: combined = bytes(a ^ b for a, b in zip(combined, k))
check("combine", combined, H(v["combine"]["combined"]))

# Credential = Contacts([16]) 0 | Keys([[ [16] ]]) 1 | Token(Token) 2 | Open 3 | Member(MemberToken) 4
# Token = { kind: varint, period: varint, input: [32], output: bytes(64) }; every field from "inputs".
def token(t):
    return varint(t["kind"]) + varint(t["period"]) + H(t["input"]) + blob(H(t["output"]))

for s in v["submissions"]:
    env = H(s["envelope"]); wire = H(s["wire"]); i = s["inputs"]
    if s["credential"] == "contacts":
        cred = varint(0) + H(i["combined"])
    elif s["credential"] == "keys":
        lists = [[H(k) for k in l] for l in i["keys"]]
        cred = varint(1) + varint(len(lists)) + b"".join(varint(len(l)) + b"".join(l) for l in lists)
    elif s["credential"] == "open":
        cred = varint(3)
    elif s["credential"] == "member":  # MemberToken { token, user: bytes }
        cred = varint(4) + token(i["token"]) + blob(i["user"].encode())
    else:
        cred = varint(2) + token(i["token"])
    check("submission " + s["credential"], b"\x01" + cred + blob(env), wire)

u = v["access_update"]
# AccessUpdate { contact: Option<[16]>, add: [[16]], remove: [[16]], settings: Option<MailboxSettings> }
# MailboxSettings { open_profile: bool, sponsored: bool, account: Option<AccountCertificate> }
settings = b"\x01" + bytes([u["open_profile"]]) + bytes([u["sponsored"]]) + b"\x00"
update = (b"\x01" + b"\x01" + H(u["contact"]) + varint(len(u["add"])) + b"".join(H(k) for k in u["add"])
          + varint(len(u["remove"])) + b"".join(H(k) for k in u["remove"]) + settings)
check("access update", update, H(u["wire"]))

print("access vectors:", "all match" if not failures else f"{failures} mismatches")
sys.exit(1 if failures else 0)
