#!/usr/bin/env python3
"""An independent replay of vectors/device/device.json from PROTOCOL.md §3, §4 and §12 alone, in
Python with the `cryptography` package: every device list's bytes and signature, each refusal,
the link code, and both link messages (HPKE mode_psk from ikmE). Run:
python3 vectors/device/verify.py"""
import hashlib, hmac, json, pathlib, struct
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives import serialization

RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw
H = bytes.fromhex


def varint(n):
    out = b""
    while True:
        b = n & 0x7F; n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n: return out


def read_varint(b, i):
    n = shift = 0
    while True:
        n |= (b[i] & 0x7F) << shift; shift += 7; i += 1
        if not b[i - 1] & 0x80: return n, i


def identity(secret):  # 0x01 || X25519 secret || Ed25519 seed
    assert secret[0] == 1 and len(secret) == 65
    dh = x25519.X25519PrivateKey.from_private_bytes(secret[1:33])
    sign = ed25519.Ed25519PrivateKey.from_private_bytes(secret[33:])
    public = dh.public_key().public_bytes(*RAW) + sign.public_key().public_bytes(*RAW)
    return dh, sign, public  # public: the 64 bytes postcard writes; wire(.) is 0x01 || public


# --- HPKE (RFC 9180), DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305 ---
def extract(salt, ikm): return hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()
def expand(prk, info, n):
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest(); out += t; i += 1
    return out[:n]
KEM = b"KEM" + struct.pack(">H", 0x20)
SUITE = b"HPKE" + struct.pack(">HHH", 0x20, 1, 3)
def lextract(suite, salt, label, ikm): return extract(salt, b"HPKE-v1" + suite + label + ikm)
def lexpand(suite, prk, label, info, n):
    return expand(prk, struct.pack(">H", n) + b"HPKE-v1" + suite + label + info, n)


def seal_psk(ikm_e, pk_r, info, psk, psk_id, pt):
    sk_e = lexpand(KEM, lextract(KEM, b"", b"dkp_prk", ikm_e), b"sk", b"", 32)
    e = x25519.X25519PrivateKey.from_private_bytes(sk_e)
    enc = e.public_key().public_bytes(*RAW)
    dh = e.exchange(x25519.X25519PublicKey.from_public_bytes(pk_r))
    shared = lexpand(KEM, lextract(KEM, b"", b"eae_prk", dh), b"shared_secret", enc + pk_r, 32)
    ksc = b"\x01" + lextract(SUITE, b"", b"psk_id_hash", psk_id) + lextract(SUITE, b"", b"info_hash", info)
    secret = lextract(SUITE, shared, b"secret", psk)
    key = lexpand(SUITE, secret, b"key", ksc, 32)
    nonce = lexpand(SUITE, secret, b"base_nonce", ksc, 12)
    return enc, ChaCha20Poly1305(key).encrypt(nonce, pt, b"")


def link_message(enc, sealed): return b"\x01" + enc + varint(len(sealed)) + sealed


# --- §12.2 device lists ---
def list_body(case):
    out = varint(case["version"]) + varint(case["next_id"]) + varint(len(case["devices"]))
    for d in case["devices"]:
        ident = H(d["identity"]); assert ident[0] == 1
        out += varint(d["id"]) + H(d["mailbox"]) + ident[1:]
    return out


def check_list(wire, account_public, seen):
    """Returns the version, or the name of the refusal (PROTOCOL.md §12.2)."""
    assert wire[0] == 1
    account = wire[1:65]
    body_end = len(wire) - 64
    body, signature = wire[65:body_end], wire[body_end:]
    version, i = read_varint(body, 0)
    next_id, i = read_varint(body, i)
    n, i = read_varint(body, i)
    devices = []
    for _ in range(n):
        did, i = read_varint(body, i)
        devices.append((did, body[i:i + 16], body[i + 16:i + 80])); i += 80
    assert i == len(body)
    ids = [d[0] for d in devices]
    if any(a >= b for a, b in zip(ids, ids[1:])): return "DecodeError::NonCanonical"
    if not (version >= 1 and 1 <= n <= 8 and all(1 <= d < next_id for d in ids)
            and len({d[1] for d in devices}) == n and len({d[2] for d in devices}) == n):
        return "DecodeError::Invalid"
    if account != account_public: return "DeviceError::WrongAccount"
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(account[32:]).verify(
            signature, b"missive/device-list/v1" + b"\x01" + account + body)
    except InvalidSignature:
        return "CryptoError::BadSignature"
    if seen is not None and version <= seen: return "DeviceError::RolledBack"
    return version


def lists_from(changes, device_publics):
    """Each list's contents as the changes make them (PROTOCOL.md §12.2): ids from 1, never reused."""
    out, current = [], None
    for change in changes:
        if "first" in change:
            f = change["first"]
            current = {"version": 1, "next_id": 2,
                       "devices": [(1, f["mailbox"], device_publics[f["device"]])]}
        elif "add" in change:
            a = change["add"]
            current = {"version": current["version"] + 1, "next_id": current["next_id"] + 1,
                       "devices": current["devices"] + [(current["next_id"], a["mailbox"],
                                                         device_publics[a["device"]])]}
        else:
            current = {"version": current["version"] + 1, "next_id": current["next_id"],
                       "devices": [d for d in current["devices"] if d[0] != change["remove"]]}
        out.append({**current, "devices": [{"id": d, "mailbox": m, "identity": (b"\x01" + p).hex()}
                                           for d, m, p in current["devices"]]})
    return out


v = json.loads((pathlib.Path(__file__).parent / "device.json").read_text())
assert v["missive_format"] == "device"
i, o = v["inputs"], v["outputs"]
_, account_sign, account_public = identity(H(i["account_secret"]))
assert b"\x01" + account_public == H(o["account"])
device_publics = [identity(H(d))[2] for d in i["device_secrets"]]
seen = None
for case, out in zip(lists_from(i["lists"], device_publics), o["lists"], strict=True):
    body = list_body(case)
    signature = account_sign.sign(b"missive/device-list/v1" + b"\x01" + account_public + body)
    wire = b"\x01" + account_public + body + signature
    assert {**case, "wire": wire.hex()} == out, f"list version {case['version']}"
    assert check_list(wire, account_public, seen) == case["version"]
    seen = case["version"]
for case, out in zip(i["refusals"], o["refusals"], strict=True):
    got = check_list(H(case["wire"]), H(case["account"])[1:], case["seen"])
    assert {"result": got if isinstance(got, str) else "ok"} == out, f"{case['name']}: {got}"

# --- §12.3 linking ---
l, lo = i["link"], o["link"]
pk_l = x25519.X25519PrivateKey.from_private_bytes(H(l["key_secret"])).public_key().public_bytes(*RAW)
code = b"\x01" + pk_l + H(l["secret"]) + H(l["mailbox"]) + varint(l["expires"])
assert code.hex() == lo["code"], "link code"
context = pk_l + H(l["mailbox"]) + struct.pack(">Q", l["expires"])
psk, psk_id = H(l["secret"]), b"missive/link/v1"

_, device_sign, device_public = identity(H(i["device_secrets"][l["device"]]))
m = H(l["device_mailbox"])
proof = device_sign.sign(b"missive/link/v1/device-proof" + context + m + b"\x01" + device_public)
body = m + device_public + proof
enc, sealed = seal_psk(H(l["ikmE_request"]), pk_l, b"missive/link/v1/request" + context, psk, psk_id, body)
assert link_message(enc, sealed).hex() == lo["request"], "link request"
assert lo["accepted_identity"] == (b"\x01" + device_public).hex()
# A link takes one answer, before it expires (§12.3).
assert lo["accepted_again"] == "DeviceError::LinkUsed"
assert lo["answered_past_expiry"] == "DeviceError::LinkExpired"

state = H(l["state"])
handed = o["lists"][l["handover_list"]]
list_wire = H(handed["wire"])
device_id = next(d["id"] for d in handed["devices"] if d["identity"] == (b"\x01" + device_public).hex())
assert lo["device_id"] == device_id
handover = (varint(65) + H(i["account_secret"]) + varint(len(list_wire)) + list_wire
            + varint(device_id) + varint(len(state)) + state)
info = b"missive/link/v1/handover" + context + m + b"\x01" + device_public
enc, sealed = seal_psk(H(l["ikmE_handover"]), device_public[:32], info, psk, psk_id, handover)
assert link_message(enc, sealed).hex() == lo["handover"], "link handover"

print(f"device vectors: {len(o['lists'])} lists, {len(o['refusals'])} refusals, "
      "code, request and handover replayed")
