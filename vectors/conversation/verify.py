#!/usr/bin/env python3
"""An independent replay of vectors/conversation/*.json from PROTOCOL.md §6–§7 alone, in Python
with the `cryptography` package: roster hashes, chain steps, message keys, commitments, every
message byte, fan-out parts and keyed envelopes. state.json (format conversation_state) is replayed
by state.py beside this file, which imports the helpers here. Run: python3 vectors/conversation/verify.py"""
import hashlib, hmac, importlib.util, json, pathlib, struct, sys
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives import serialization

RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw
H = bytes.fromhex

def expand(prk, info, n):
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest(); out += t; i += 1
    return out[:n]

def step(ck, domain, binding, i):
    o = expand(ck, domain + binding + struct.pack(">I", i), 72)
    return o[:32], o[32:64], o[64:]

def varint(n):
    out = b""
    while True:
        b = n & 0x7F; n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n: return out

def roster_hash(cid, kind, epoch, members):  # members: sorted (id, role, identity bytes or None)
    h = hashlib.sha256(b"missive/v1/roster" + cid + bytes([kind]) + struct.pack(">QI", epoch, len(members)))
    for mid, role, ident in members:
        h.update(mid + bytes([role]) + (b"\x00" if ident is None else b"\x01" + ident))
    return h.digest()

def bucket(n):
    L = n + 1
    if L >= 2:
        e = L.bit_length() - 1; s = e.bit_length(); m = (1 << (e - s)) - 1; L = (L + m) & ~m
    return max(256, L)

def message_keys(secret, rh):  # K, C, M (§6.4)
    k = expand(secret, b"missive/v1/message" + rh, 128)
    return k[:32], k[32:64], k[64:]

def pad(body): return body + b"\x80" + b"\x00" * (bucket(len(body)) - len(body) - 1)

def seal(secret, label, rh, sender, index, seed, body):  # §6.4 for one step of a chain
    K, C, M = message_keys(secret, rh)
    ctx = rh + sender + struct.pack(">I", index) + label + C
    ct = ChaCha20Poly1305(K).encrypt(b"\x00" * 12, pad(body), b"missive/v1/msg" + ctx)
    sig = ed25519.Ed25519PrivateKey.from_private_bytes(seed).sign(b"missive/v1/sig" + ctx + hashlib.sha256(ct).digest())
    return label + C + bytes(a ^ b for a, b in zip(sig, M)) + ct

def message(ck, rh, sender, index, seed, body):
    binding = rh + sender
    for i in range(index): ck = step(ck, b"missive/v1/chain", binding, i)[0]
    _, secret, label = step(ck, b"missive/v1/chain", binding, index)
    return seal(secret, label, rh, sender, index, seed, body)

def identity(secret):
    x = x25519.X25519PrivateKey.from_private_bytes(secret[1:33]).public_key().public_bytes(*RAW)
    e = ed25519.Ed25519PrivateKey.from_private_bytes(secret[33:65]).public_key().public_bytes(*RAW)
    return x + e

def check_group(inp, out):
    members = sorted((H(m["id"]), 1 if m["role"] == "admin" else 0, identity(H(m["identity_secret"]))) for m in inp["members"])
    rh = roster_hash(H(inp["conversation_id"]), 0, 0, members)
    assert rh.hex() == out["roster_hash"]
    chains = {m["id"]: c for m, c in zip(inp["members"], inp["chains"])}
    replay(inp["messages"], out["messages"], chains, rh)
    if "change" in inp:
        ch = inp["change"]
        removed = set(ch["removed"])
        added = [(H(m["id"]), 0, identity(H(m["identity_secret"]))) for m in ch["added"]]
        new = sorted([m for m in members if m[0].hex() not in removed] + added)
        rh1 = roster_hash(H(inp["conversation_id"]), 0, 1, new)
        assert rh1.hex() == out["change"]["roster_hash"]
        chains1 = {c["member"]: c for c in ch["chains"]}
        chains1[inp["members"][0]["id"]] = ch["admin_chain"]
        replay(ch["messages"], out["change"]["messages"], chains1, rh1)

def replay(inputs, outputs, chains, rh):
    sent = {}
    for m, o in zip(inputs, outputs):
        c = chains[m["sender"]]
        i = sent.get(m["sender"], 0); sent[m["sender"]] = i + 1
        got = message(H(c["chain_key"]), rh, H(m["sender"]), i, H(c["signing_seed"]), H(m["body"]))
        assert got.hex() == o["message"], "message differs"

def check_first(inp, out):
    sender, seed, cid = H(inp["sender"]), H(inp["seed"]), H(inp["conversation_id"])
    prk = hmac.new(b"missive/v1/adhoc", seed, hashlib.sha256).digest()
    id_mask = expand(prk, b"missive/v1/adhoc-id", 16)
    ids = sorted(H(r["id"]) for r in inp["recipients"])
    rh = roster_hash(cid, 1, 0, sorted((i, 0, None) for i in ids + [sender]))
    assert rh.hex() == out["roster_hash"]
    ck0 = expand(prk, b"missive/v1/adhoc-chain" + rh + sender, 32)
    sk = H(inp["sender_signing_seed"])
    msg = message(ck0, rh, sender, 0, sk, H(inp["body"]))
    later = message(ck0, rh, sender, 1, sk, H(inp["later_body"]))
    assert later.hex() == out["later_message"]
    keys = {H(r["id"]): H(r["fanout_key"]) for r in inp["recipients"]}
    parts = b""
    for rid in ids:
        _, s, label = step(keys[rid], b"missive/v1/fanout", sender + rid, 0)
        parts += rid + label + bytes(a ^ b for a, b in zip(seed, s))
    body = bytes(a ^ b for a, b in zip(cid, id_mask)) + msg
    env = b"\x01" + varint(inp["expiry"]) + b"\x01" + varint(len(ids)) + parts + varint(len(body)) + body
    assert env.hex() == out["envelope"], "envelope differs"
    eid = hashlib.sha256(b"missive/v1/envelope-id" + env).digest()[:16]
    assert eid.hex() == out["envelope_id"]

def load_sibling(name):  # state.py lives beside this file and reuses its helpers
    spec = importlib.util.spec_from_file_location(f"conversation_{name}", pathlib.Path(__file__).resolve().parent / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

if __name__ == "__main__":
    for path in sorted(pathlib.Path(__file__).parent.glob("*.json")):
        f = json.loads(path.read_text())
        if f.get("missive_format") == "conversation_state":
            load_sibling("state").check(path)
            continue
        {"group": check_group, "first_message": check_first}[f["missive_format"]](f["inputs"], f["outputs"])
        print("ok", path.name)
