#!/usr/bin/env python3
"""An independent replay of vectors/identity/identity.json from PROTOCOL.md §4 alone: the public
identity's wire form (§4.1), fingerprints and safety numbers (§4.3), and which 65-byte strings
decode as a public identity (an Ed25519 key must decode to a point, RFC 8032 §5.1.3, of more
than small order; the X25519 half is any 32 bytes). Standard library and `cryptography` only.
Run: python3 vectors/identity/verify.py"""
import hashlib, json, pathlib
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives import serialization

RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw
P = 2**255 - 19
D = -121665 * pow(121666, P - 2, P) % P


def public_identity(dh, seed):
    x = x25519.X25519PrivateKey.from_private_bytes(dh).public_key().public_bytes(*RAW)
    ed = ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(*RAW)
    return b"\x01" + x + ed


def fingerprint(ik, user):
    h = hashlib.sha512(b"\x00\x01" + ik + user).digest()
    for _ in range(5199):
        h = hashlib.sha512(h + ik).digest()
    return "".join("%05d" % (int.from_bytes(h[i:i + 5], "big") % 100000) for i in range(0, 30, 5))


def ed_point(b):
    """RFC 8032 §5.1.3 decoding (y below p, x recovered), in extended coordinates; None if not
    a point."""
    y = int.from_bytes(b, "little") & (2**255 - 1)
    sign = b[31] >> 7
    if y >= P:
        return None
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if v * x * x % P == (-u) % P:
        x = x * pow(2, (P - 1) // 4, P) % P
    elif v * x * x % P != u:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return (x, y, 1, x * y % P)


def add(p, q):
    (x1, y1, z1, t1), (x2, y2, z2, t2) = p, q
    a, b = (y1 - x1) * (y2 - x2) % P, (y1 + x1) * (y2 + x2) % P
    c, d = 2 * t1 * t2 * D % P, 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def small_order(p):
    for _ in range(3):  # 8 · p
        p = add(p, p)
    x, y, z, _ = p
    return x % P == 0 and (y - z) % P == 0


def decode(b):
    if len(b) < 65:
        return "DecodeError::Truncated"
    if b[0] != 1:
        return "DecodeError::UnknownVersion"
    if len(b) > 65:
        return "DecodeError::TrailingBytes"
    point = ed_point(b[33:])
    if point is None or small_order(point):
        return "DecodeError::Invalid"
    return "ok"


f = json.loads((pathlib.Path(__file__).parent / "identity.json").read_text())
ids = []
for c in f["cases"]:
    ik = public_identity(bytes.fromhex(c["dh_secret"]), bytes.fromhex(c["ed25519_seed"]))
    user = bytes.fromhex(c["user_id"])
    assert c["public_identity"] == ik.hex(), c["description"]
    assert c["fingerprint"] == fingerprint(ik, user), c["description"]
    ids.append(c["fingerprint"])
for n in f["safety_numbers"]:
    assert n["digits"] == "".join(sorted([ids[n["a"]], ids[n["b"]]])), n
for d in f["decodings"]:
    assert d["decoded"] == decode(bytes.fromhex(d["bytes"])), d["description"]
print(f"identity.json: {len(f['cases'])} identities, {len(f['safety_numbers'])} safety numbers, "
      f"{len(f['decodings'])} decodings: ok")
