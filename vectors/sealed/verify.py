#!/usr/bin/env python3
"""An independent replay of vectors/sealed/sealed.json from PROTOCOL.md §3, §7.3, §9.2 and §9.4
alone, in Python with `cryptography` and `kyber-py` (X-Wing from vectors/hpke/verify.py): every
content's postcard bytes, padding, typing signature, HPKE encapsulation and key schedule, the
session keys, label and inner seal, every body byte for byte; then each body opened again by the
recipient and each refusal refused with the same outcome. Run: python3 vectors/sealed/verify.py"""
import hashlib, hmac, importlib.util, json, pathlib, struct, sys
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives import serialization

HERE = pathlib.Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("xwing_hpke", HERE.parent / "hpke" / "verify.py")
xw = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(xw)

RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw
H = bytes.fromhex


def varint(n):
    out = b""
    while True:
        b = n & 0x7F; n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n: return out


def blob(b): return varint(len(b)) + b
def option(b): return b"\x00" if b is None else b"\x01" + b


def identity(secret):  # 0x01 || X25519 secret || Ed25519 seed (§4.2)
    assert secret[0] == 1 and len(secret) == 65
    dh = x25519.X25519PrivateKey.from_private_bytes(secret[1:33])
    sign = ed25519.Ed25519PrivateKey.from_private_bytes(secret[33:])
    public = dh.public_key().public_bytes(*RAW) + sign.public_key().public_bytes(*RAW)
    return dh, sign, public


# --- HKDF-SHA256 and HPKE (RFC 9180) base mode, DHKEM(X25519) or X-Wing ---
def extract(salt, ikm): return hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()
def expand(prk, info, n):
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest(); out += t; i += 1
    return out[:n]
KEM = b"KEM" + struct.pack(">H", 0x20)
def suite(kem_id): return b"HPKE" + struct.pack(">HHH", kem_id, 1, 3)
def lextract(s, salt, label, ikm): return extract(salt, b"HPKE-v1" + s + label + ikm)
def lexpand(s, prk, label, info, n): return expand(prk, struct.pack(">H", n) + b"HPKE-v1" + s + label + info, n)


def dhkem_encap(ikm_e, pk_r):
    sk_e = lexpand(KEM, lextract(KEM, b"", b"dkp_prk", ikm_e), b"sk", b"", 32)
    e = x25519.X25519PrivateKey.from_private_bytes(sk_e)
    enc = e.public_key().public_bytes(*RAW)
    dh = e.exchange(x25519.X25519PublicKey.from_public_bytes(pk_r))
    return enc, lexpand(KEM, lextract(KEM, b"", b"eae_prk", dh), b"shared_secret", enc + pk_r, 32)


def dhkem_decap(sk_r, enc):
    pk_r = sk_r.public_key().public_bytes(*RAW)
    dh = sk_r.exchange(x25519.X25519PublicKey.from_public_bytes(enc))
    return lexpand(KEM, lextract(KEM, b"", b"eae_prk", dh), b"shared_secret", enc + pk_r, 32)


def schedule(kem_id, shared, info):
    s = suite(kem_id)
    ksc = b"\x00" + lextract(s, b"", b"psk_id_hash", b"") + lextract(s, b"", b"info_hash", info)
    secret = lextract(s, shared, b"secret", b"")
    return lexpand(s, secret, b"key", ksc, 32), lexpand(s, secret, b"base_nonce", ksc, 12)


# --- Padding (§7.3) ---
def padme(L):
    if L < 2: return L
    E = L.bit_length() - 1; S = E.bit_length(); mask = (1 << (E - S)) - 1
    return (L + mask) & ~mask


def bucket(n): return max(256, padme(n + 1))
def pad(body): return body + b"\x80" + bytes(bucket(len(body)) - len(body) - 1)


class Refused(Exception):
    pass


def unpad(padded):
    body = padded.rstrip(b"\x00")
    if not body or body[-1] != 0x80 or len(padded) != bucket(len(body) - 1):
        raise Refused("DecodeError::Invalid")
    return body[:-1]


# --- Contents (§9.2, §9.4): 0x01 || postcard(SealedContent) ---
def content(p, c):
    kind = c["kind"]
    sender = blob(p["user"]) + p["mailbox"] + p["public"]
    access = lambda: option(H(c["access"]) if c["access"] else None)
    if kind == "session":
        return b"\x01\x00" + sender + access() + blob(H(c["message"])), None, None
    if kind == "device_session":
        listed = option(blob(H(c["list"])) if c["list"] else None)
        return b"\x01\x02" + p["member"] + listed + sender + access() + blob(H(c["message"])), None, None
    statement = (b"missive/v1/typing" + p["recipient_mailbox"] + H(c["conversation"])
                 + bytes([c["typing"]]) + struct.pack(">Q", c["timestamp"]))
    sig = p["sign"].sign(statement)
    tail = H(c["conversation"]) + bytes([c["typing"]]) + varint(c["timestamp"]) + sig
    if kind == "typing":
        return b"\x01\x01" + p["mailbox"] + tail, statement, sig
    assert kind == "device_typing"
    return b"\x01\x03" + p["member"] + p["mailbox"] + tail, statement, sig


def parse_content(data):
    """Decodes a content strictly enough to name the refusals the vectors hold."""
    if not data: raise Refused("DecodeError::Truncated")
    if data[0] != 1: raise Refused("DecodeError::UnknownVersion")
    if len(data) < 2: raise Refused("DecodeError::Truncated")
    if data[1] > 3: raise Refused("DecodeError::Invalid")
    return data[1]


def seal_keys(seal, d):
    out = expand(seal, b"missive/session/v4/seal-keys" + bytes([d]), 40)
    return out[:8], out[8:]


def message_key(key_d, enc): return expand(key_d, b"missive/session/v4/seal-message" + enc, 32)


def aead_open(key, nonce, ct, aad):
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, ct, aad)
    except InvalidTag:
        return None


def open_body(p, body, at):
    """What the recipient makes of a body: 'ok', 'unrecognised' or the refusal."""
    form, rest = body[0], body[1:]
    if form == 0x00 or form == 0x02:
        enc, ct = rest[:32], rest[32:]
        info = b"missive/v1/sealed-sender" if form == 0 else b"missive/v2/sealed-session"
        key, nonce = schedule(0x20, dhkem_decap(p["recipient_dh"], enc), info)
        plain = aead_open(key, nonce, ct, at)
        if plain is None: return "unrecognised"
        if form == 0x02:
            label, inner = plain[:8], plain[8:]
            if len(plain) < 8: return "DecodeError::Truncated"
            for d in (1, 2):
                lab, key_d = seal_keys(p["seal"], d)
                if lab != label: continue
                padded = aead_open(message_key(key_d, enc), bytes(12), inner, at)
                try:
                    if padded is not None:
                        parse_content(unpad(padded)); return "ok"
                except Refused:
                    pass
            return "CryptoError::NoSession"
    elif form == 0x01:
        generation, enc, ct = struct.unpack(">I", rest[:4])[0], rest[4:1124], rest[1124:]
        if generation != p["generation"]: return "unrecognised"
        key, nonce = schedule(0x647A, xw.xwing_decaps(p["sealing_seed"], enc), b"missive/v2/sealed-opening")
        plain = aead_open(key, nonce, ct, at)
        if plain is None: return "unrecognised"
    else:
        return "unrecognised"
    try:
        parse_content(unpad(plain)); return "ok"
    except Refused as e:
        return str(e)


def main(path):
    v = json.loads(path.read_text())
    i, o = v["inputs"], v["outputs"]
    r, s = i["recipient"], i["sender"]
    recipient_dh, _, recipient_public = identity(H(r["identity_secret"]))
    _, sender_sign, sender_public = identity(H(s["identity_secret"]))
    _, _, sealing_pk = xw.xwing_keys(H(r["sealing_seed"]))
    p = dict(recipient_dh=recipient_dh, recipient_mailbox=H(r["mailbox"]), seal=H(i["seal"]),
             sealing_seed=H(r["sealing_seed"]), generation=r["sealing_generation"],
             user=s["user"].encode(), mailbox=H(s["mailbox"]), member=H(s["member"]),
             public=sender_public, sign=sender_sign)
    assert o["recipient_identity"] == "01" + recipient_public.hex()
    assert o["sender_identity"] == "01" + sender_public.hex()
    assert o["sealing_public_key"] == sealing_pk.hex()
    for name, d in (("initiator", 1), ("responder", 2)):
        label, key = seal_keys(p["seal"], d)
        assert o["session_keys"][name] == {"label": label.hex(), "key": key.hex()}, name
    aad = p["recipient_mailbox"]
    pk_r = recipient_public[:32]
    assert len(i["cases"]) == len(o["cases"])
    for case, out in zip(i["cases"], o["cases"]):
        what = case["description"]
        if "padded" in case:
            padded = H(case["padded"])
        else:
            body, statement, sig = content(p, case["content"])
            assert out["content"] == body.hex(), what
            if statement is not None:
                assert out["statement"] == statement.hex() and out["signature"] == sig.hex(), what
            padded = pad(body)
        assert out["padded"] == padded.hex(), what
        form = case["form"]
        if form == "opening":
            enc, shared = xw.xwing_encaps(sealing_pk, H(case["eseed"]))
            key, nonce = schedule(0x647A, shared, b"missive/v2/sealed-opening")
            body = (b"\x01" + struct.pack(">I", case["generation"]) + enc
                    + ChaCha20Poly1305(key).encrypt(nonce, padded, aad))
        else:
            enc, shared = dhkem_encap(H(case["ikm_e"]), pk_r)
            info = b"missive/v2/sealed-session" if form == "session" else b"missive/v1/sealed-sender"
            key, nonce = schedule(0x20, shared, info)
            pt = padded
            if form == "session":
                seal = H(case["seal"]) if "seal" in case else p["seal"]
                label, key_d = seal_keys(seal, {"initiator": 1, "responder": 2}[case["direction"]])
                k = message_key(key_d, enc)
                inner = ChaCha20Poly1305(k).encrypt(bytes(12), padded, aad)
                assert (out["label"], out["message_key"], out["inner"]) == (label.hex(), k.hex(), inner.hex()), what
                pt = label + inner
            body = bytes([0 if form == "classical" else 2]) + enc + ChaCha20Poly1305(key).encrypt(nonce, pt, aad)
        assert (out["enc"], out["shared_secret"], out["key"], out["base_nonce"]) == \
            (enc.hex(), shared.hex(), key.hex(), nonce.hex()), what
        assert out["body"] == body.hex(), what
        opened = bytearray(body)
        if "flip" in case:
            at = case["flip"] % len(opened)
            opened[at] ^= 0x03 if at == 0 else 0x01
        at = H(case["open_at"]) if "open_at" in case else aad
        assert open_body(p, bytes(opened), at) == out["opened"], (what, out["opened"])
    print(f"{path.name}: {len(o['cases'])} cases, every byte and outcome recomputed: ok")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "sealed.json")
