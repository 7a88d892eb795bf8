#!/usr/bin/env python3
"""An independent replay of vectors/relay/mailbox.json from PROTOCOL.md §1 and §8.1-8.2 alone,
in Python with `cryptography`: every mailbox id, signed message, proof and Authorization header
recomputed, and every proof verified (or refused with the same typed error) by a strict decoder
written here: version, key, canonical varint, nonce, signature, nothing after; a small-order key
refused; a 300-second window; the signature checked. Run: python3 vectors/relay/verify.py"""
import hashlib, json, pathlib, struct, sys
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives import serialization

HERE = pathlib.Path(__file__).resolve().parent
RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw
H = bytes.fromhex
# The eight Ed25519 points of small order, as encoded (RFC 8032 §5.1.2): a key among them (or
# any key of small order) is refused before a signature is checked.
SMALL_ORDER = {H(x) for x in (
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
)}


def varint(n):
    out = b""
    while True:
        b = n & 0x7F; n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n: return out


class Refused(Exception):
    pass


def take(data, at, n):
    if len(data) < at + n: raise Refused("DecodeError::Truncated")
    return data[at:at + n], at + n


def read_u64(data, at):
    """postcard's varint(u64): at most 10 bytes; the shortest form only."""
    n = shift = 0
    for k in range(10):
        b, at = take(data, at, 1)
        n |= (b[0] & 0x7F) << shift; shift += 7
        if not b[0] & 0x80:
            if n >= 1 << 64: raise Refused("DecodeError::Invalid")
            return n, at, k + 1
    raise Refused("DecodeError::Invalid")


def decode_proof(data):
    version, at = take(data, 0, 1)
    if version[0] != 1: raise Refused("DecodeError::UnknownVersion")
    key, at = take(data, at, 32)
    if key in SMALL_ORDER: raise Refused("DecodeError::Invalid")
    timestamp, at, used = read_u64(data, at)
    nonce, at = take(data, at, 16)
    signature, at = take(data, at, 64)
    if at != len(data): raise Refused("DecodeError::TrailingBytes")
    if used != len(varint(timestamp)): raise Refused("DecodeError::NonCanonical")
    return key, timestamp, nonce, signature


def signed_message(method, path, body, timestamp, nonce):
    return (b"missive/relay-auth/v1\x00" + method.encode() + b"\x00" + path.encode() + b"\x00"
            + struct.pack(">Q", timestamp) + nonce + hashlib.sha256(body).digest())


def mailbox_id(key): return hashlib.sha256(b"missive/mailbox/v1" + key).digest()[:16]


def verify(proof, method, path, body, now):
    try:
        key, timestamp, nonce, signature = decode_proof(proof)
    except Refused as e:
        return {"result": str(e)}
    if abs(timestamp - now) > 300: return {"result": "CryptoError::Expired"}
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(key).verify(
            signature, signed_message(method, path, body, timestamp, nonce))
    except InvalidSignature:
        return {"result": "CryptoError::BadSignature"}
    return {"result": "ok", "mailbox": mailbox_id(key).hex()}


def main(path):
    v = json.loads(path.read_text())
    i, o = v["inputs"], v["outputs"]
    for seed, out in zip(i["mailbox_seeds"], o["mailboxes"], strict=True):
        key = ed25519.Ed25519PrivateKey.from_private_bytes(H(seed)).public_key().public_bytes(*RAW)
        assert out == {"verifying_key": key.hex(), "id": mailbox_id(key).hex()}, seed
    for r, out in zip(i["requests"], o["requests"], strict=True):
        sk = ed25519.Ed25519PrivateKey.from_private_bytes(H(r["seed"]))
        body, nonce = H(r["body"]), H(r["nonce"])
        m = signed_message(r["method"], r["path"], body, r["timestamp"], nonce)
        proof = (b"\x01" + sk.public_key().public_bytes(*RAW) + varint(r["timestamp"]) + nonce
                 + sk.sign(m))
        assert out == {"body_sha256": hashlib.sha256(body).hexdigest(), "signed_message": m.hex(),
                       "proof": proof.hex(), "authorization": "Missive " + proof.hex()}, r
    for c, out in zip(i["verifications"], o["verifications"], strict=True):
        got = verify(H(c["proof"]), c["method"], c["path"], H(c["body"]), c["now"])
        assert got == out, (c["description"], got, out)
    print(f"{path.name}: {len(o['mailboxes'])} mailboxes, {len(o['requests'])} proofs, "
          f"{len(o['verifications'])} verifications recomputed: ok")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "mailbox.json")
