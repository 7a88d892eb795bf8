#!/usr/bin/env python3
"""An independent replay of vectors/access/*.json from PROTOCOL.md §10.2 and §11 alone, in Python.
access.json (standard library): group access keys, the XOR of contact keys, and the byte layout
of every submission and access update. tokens.json (with `cryptography` for Ed25519, and the
system's libsodium through ctypes for ristretto255): every token key's info, seed and public key
by RFC 9497's DeriveKeyPair, every token's output by its Evaluate (expand_message_xmd and the
hash-to-group written here from RFC 9380 and RFC 9497), ids, spend hashes, the issuance bodies,
account certificates, and the access updates with the refusals of unsorted or repeated keys.
Run: python3 vectors/access/verify.py"""
import ctypes, ctypes.util, hashlib, hmac, json, pathlib, struct, sys

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
if failures:
    sys.exit(1)


# --- tokens.json: RFC 9497 VOPRF, ristretto255-SHA512 ---
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives import serialization

sodium = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
assert sodium.sodium_init() >= 0
L = 2**252 + 27742317777372353535851937790883648493
CONTEXT = b"OPRFV1-\x01-ristretto255-SHA512"


def xmd(msg, dst, n):  # RFC 9380 §5.3.1, SHA-512
    dst_prime = dst + bytes([len(dst)])
    b0 = hashlib.sha512(bytes(128) + msg + n.to_bytes(2, "big") + b"\x00" + dst_prime).digest()
    out, b = b"", hashlib.sha512(b0 + b"\x01" + dst_prime).digest()
    out += b
    for i in range(2, -(-n // 64) + 1):
        b = hashlib.sha512(bytes(x ^ y for x, y in zip(b0, b)) + bytes([i]) + dst_prime).digest()
        out += b
    return out[:n]


def scalar_base(k):
    out = ctypes.create_string_buffer(32)
    assert sodium.crypto_scalarmult_ristretto255_base(out, k.to_bytes(32, "little")) == 0
    return out.raw


def derive_key_pair(seed, info):  # RFC 9497 §3.2.1
    derive_input = seed + len(info).to_bytes(2, "big") + info
    for counter in range(256):
        sk = int.from_bytes(xmd(derive_input + bytes([counter]), b"DeriveKeyPair" + CONTEXT, 64), "little") % L
        if sk: return sk, scalar_base(sk)
    raise ValueError("DeriveKeyPairError")


def evaluate(sk, data):  # RFC 9497 §3.3.2 Evaluate
    point = ctypes.create_string_buffer(32)
    sodium.crypto_core_ristretto255_from_hash(point, xmd(data, b"HashToGroup-" + CONTEXT, 64))
    issued = ctypes.create_string_buffer(32)
    assert sodium.crypto_scalarmult_ristretto255(issued, sk.to_bytes(32, "little"), point.raw) == 0
    return hashlib.sha512(len(data).to_bytes(2, "big") + data + b"\x00\x20" + issued.raw + b"Finalize").digest()


KIND = {"invite": 0, "credit": 1, "premium": 2, "sponsored": 3}
TIER = {"free": 0, "career": 1, "business": 2}
RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


def certificate(platform, a):  # AccountCertificate (§10.2), postcard
    body = H(a["mailbox"]) + varint(TIER[a["tier"]]) + bytes([a["advertiser"]]) + varint(a["expires"])
    return body + platform.sign(b"missive/v1/account" + body)


def replay_tokens(path):
    t = json.loads(path.read_text())
    i, o = t["inputs"], t["outputs"]
    prk = hmac.new(bytes(32), H(i["master"]), hashlib.sha256).digest()
    secret = {}
    for k, out in zip(i["keys"] + i["tokens"], o["keys"] + [None] * len(i["tokens"])):
        info = b"missive/v1/token-key" + bytes([KIND[k["kind"]]]) + struct.pack(">I", k["period"])
        seed = expand(prk, info, 32)
        sk, pk = derive_key_pair(seed, info)
        secret[(k["kind"], k["period"])] = sk
        if out is not None:
            assert out == {"info": info.hex(), "seed": seed.hex(), "public_key": pk.hex()}, k
    for tok, out in zip(i["tokens"], o["tokens"], strict=True):
        data = H(tok["input"])
        output = evaluate(secret[(tok["kind"], tok["period"])], data)
        ident = hashlib.sha256(b"missive/v1/token-id" + bytes([KIND[tok["kind"]]])
                               + struct.pack(">I", tok["period"]) + data).digest()
        assert out == {"output": output.hex(), "id": ident.hex(), "verifies": True}, tok
    for mailboxes, out in zip(i["spend_recipients"], o["spend_recipients"], strict=True):
        assert out == hashlib.sha256(b"missive/v1/spend-recipients" + b"".join(map(H, mailboxes))).hexdigest()[:32]
    for user, out in zip(i["spend_accounts"], o["spend_accounts"], strict=True):
        assert out == hashlib.sha256(b"missive/v1/spend-account" + user.encode()).hexdigest()[:32]
    r = i["token_request"]
    request = (varint(KIND[r["kind"]]) + varint(r["period"]) + varint(len(r["blinded"]))
               + b"".join(map(H, r["blinded"])))
    assert o["token_request"] == "01" + request.hex()
    s_ = i["token_issued"]
    issued = H(s_["key"]) + varint(len(s_["evaluated"])) + b"".join(map(H, s_["evaluated"])) + blob(H(s_["proof"]))
    assert o["token_issued"] == "01" + issued.hex()
    platform = ed25519.Ed25519PrivateKey.from_private_bytes(H(i["platform_seed"]))
    assert o["platform_key"] == platform.public_key().public_bytes(*RAW).hex()
    issue = certificate(platform, i["token_issue"]["account"]) + request + b"\x00"
    assert o["token_issue"] == "01" + issue.hex()
    for u, out in zip(i["access_updates"], o["access_updates"], strict=True):
        keys = lambda name: varint(len(u[name])) + b"".join(map(H, u[name]))
        st = u["settings"]
        settings = b"\x00" if st is None else (b"\x01" + bytes([st["open_profile"], st["sponsored"]])
            + (b"\x00" if st["account"] is None else b"\x01" + certificate(platform, st["account"])))
        contact = b"\x00" if u["contact"] is None else b"\x01" + H(u["contact"])
        wire = b"\x01" + contact + keys("add") + keys("remove") + settings
        # §11.5: each list strictly increasing, else refused as non-canonical.
        ordered = all(sorted(set(u[n])) == u[n] for n in ("add", "remove"))
        assert out == {"wire": wire.hex(), "result": "ok" if ordered else "DecodeError::NonCanonical"}, u
    print(f"{path.name}: {len(o['keys'])} keys, {len(o['tokens'])} tokens, spend hashes, issuance "
          f"bodies, {len(o['access_updates'])} access updates recomputed: ok")


replay_tokens(pathlib.Path(__file__).parent / "tokens.json")
