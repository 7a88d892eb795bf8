#!/usr/bin/env python3
"""An independent replay of vectors/hpke/xwing_hpke.json from PROTOCOL.md §3 alone: HPKE
(RFC 9180) with the X-Wing KEM (draft-connolly-cfrg-xwing-kem-06), in Python with `kyber-py`
(a pure-Python ML-KEM-768) and `cryptography` (X25519, ChaCha20-Poly1305). Every field is
recomputed from the inputs (seedR, eseed, mode, psk, psk_id, info, aad, pt), every ciphertext
opened, and each refusal refused. Run: python3 vectors/hpke/verify.py"""
import hashlib, hmac, json, pathlib, struct
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives import serialization
from kyber_py.ml_kem import ML_KEM_768

RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw
H = bytes.fromhex
LABEL = b"\\.//^\\"  # X-Wing's label, the six bytes \.//^\


# --- X-Wing (draft 06) ---
def xwing_keys(seed):
    expanded = hashlib.shake_256(seed).digest(96)
    ek_m, dk_m = ML_KEM_768._keygen_internal(expanded[:32], expanded[32:64])
    sk_x = x25519.X25519PrivateKey.from_private_bytes(expanded[64:96])
    pk_x = sk_x.public_key().public_bytes(*RAW)
    return dk_m, sk_x, ek_m + pk_x


def combiner(ss_m, ss_x, ct_x, pk_x):
    return hashlib.sha3_256(ss_m + ss_x + ct_x + pk_x + LABEL).digest()


def xwing_encaps(pk, eseed):
    pk_m, pk_x = pk[:1184], pk[1184:]
    ss_m, ct_m = ML_KEM_768._encaps_internal(pk_m, eseed[:32])
    ek_x = x25519.X25519PrivateKey.from_private_bytes(eseed[32:])
    ct_x = ek_x.public_key().public_bytes(*RAW)
    ss_x = ek_x.exchange(x25519.X25519PublicKey.from_public_bytes(pk_x))
    return ct_m + ct_x, combiner(ss_m, ss_x, ct_x, pk_x)


class NonContributory(Exception):
    pass


def xwing_decaps(seed, ct):
    dk_m, sk_x, pk = xwing_keys(seed)
    ct_m, ct_x = ct[:1088], ct[1088:]
    ss_m = ML_KEM_768._decaps_internal(dk_m, ct_m)
    try:
        ss_x = sk_x.exchange(x25519.X25519PublicKey.from_public_bytes(ct_x))
    except ValueError:  # `cryptography` refuses the all-zero output, as Missive does
        raise NonContributory()
    return combiner(ss_m, ss_x, ct_x, pk[1184:])


# --- HPKE key schedule (RFC 9180 §5.1), suite X-Wing / HKDF-SHA256 / ChaCha20-Poly1305 ---
SUITE = b"HPKE" + struct.pack(">HHH", 0x647A, 1, 3)
def extract(salt, ikm): return hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()
def expand(prk, info, n):
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest(); out += t; i += 1
    return out[:n]
def lextract(salt, label, ikm): return extract(salt, b"HPKE-v1" + SUITE + label + ikm)
def lexpand(prk, label, info, n):
    return expand(prk, struct.pack(">H", n) + b"HPKE-v1" + SUITE + label + info, n)


def schedule(mode, shared, info, psk, psk_id):
    context = bytes([mode]) + lextract(b"", b"psk_id_hash", psk_id) + lextract(b"", b"info_hash", info)
    secret = lextract(shared, b"secret", psk)
    return (context, secret, lexpand(secret, b"key", context, 32),
            lexpand(secret, b"base_nonce", context, 12), lexpand(secret, b"exp", context, 32))


def nonce(base, seq):
    return bytes(a ^ b for a, b in zip(base, seq.to_bytes(12, "big")))


def main():
    here = pathlib.Path(__file__).parent
    doc = json.loads((here / "xwing_hpke.json").read_text())
    for n, c in enumerate(doc["cases"]):
        assert (c["kem_id"], c["kdf_id"], c["aead_id"]) == (0x647A, 1, 3)
        seed, eseed = H(c["seedR"]), H(c["eseed"])
        _, _, pk = xwing_keys(seed)
        assert pk.hex() == c["pkRm"], n
        enc, shared = xwing_encaps(pk, eseed)
        assert enc.hex() == c["enc"] and shared.hex() == c["shared_secret"], n
        assert xwing_decaps(seed, enc) == shared, n
        context, secret, key, base, exp = schedule(
            c["mode"], shared, H(c["info"]), H(c["psk"]), H(c["psk_id"]))
        assert context.hex() == c["key_schedule_context"] and secret.hex() == c["secret"], n
        assert (key.hex(), base.hex(), exp.hex()) == (c["key"], c["base_nonce"], c["exporter_secret"]), n
        aead = ChaCha20Poly1305(key)
        for seq, e in enumerate(c["encryptions"]):
            ct = aead.encrypt(nonce(base, seq), H(e["pt"]), H(e["aad"]))
            assert ct.hex() == e["ct"], (n, seq)
        for x in c["exports"]:
            value = lexpand(exp, b"sec", H(x["exporter_context"]), x["L"])
            assert value.hex() == x["exported_value"], n
    base = doc["cases"][0]
    for r in doc["refusals"]:
        try:
            shared = xwing_decaps(H(base["seedR"]), H(r["enc"]))
        except NonContributory:
            assert r["error"] == "CryptoError::NonContributory", r["description"]
            continue
        _, _, key, nonce0, _ = schedule(0, shared, H(base["info"]), b"", b"")
        try:
            ChaCha20Poly1305(key).decrypt(nonce0, H(r["ct"]), H(r["aad"]))
            raise AssertionError("opened: " + r["description"])
        except InvalidTag:
            assert r["error"] == "CryptoError::DecryptionFailed", r["description"]
    print(f"vectors/hpke/xwing_hpke.json: {len(doc['cases'])} cases and "
          f"{len(doc['refusals'])} refusals replayed")


if __name__ == "__main__":
    main()
