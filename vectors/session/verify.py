#!/usr/bin/env python3
"""An independent replay of vectors/session/*.json from PROTOCOL.md §5 alone: PQXDH set-up
(X25519 and ML-KEM-768), the Double Ratchet with its post-quantum steps (§5.5), the message
wire form and its associated data, in Python with `kyber-py` (a pure-Python ML-KEM-768) and
`cryptography` (X25519, Ed25519, ChaCha20-Poly1305). Every key, secret and chain is recomputed
from the listed inputs and compared with the file, every message opened, every tampered one
refused. Stored states (state.json) are replayed by state.py.
Run: python3 vectors/session/verify.py"""
import hashlib, hmac, importlib.util, json, pathlib
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives import serialization
from kyber_py.ml_kem import ML_KEM_768

RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw
H = bytes.fromhex


def expand(prk, info, length):
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        out, i = out + block, i + 1
    return out[:length]


def hkdf(salt, ikm, info, length):
    return expand(hmac.new(salt, ikm, hashlib.sha256).digest(), info, length)


def x_secret(hexed):
    return x25519.X25519PrivateKey.from_private_bytes(H(hexed))


def x_public(secret):
    return secret.public_key().public_bytes(*RAW)


def dh(secret, public):
    return secret.exchange(x25519.X25519PublicKey.from_public_bytes(public))


def identity(hexed):
    """(X25519 secret, wire form 0x01 || X25519 public || Ed25519 public) of an identity
    secret 0x01 || X25519 secret || Ed25519 seed."""
    raw = H(hexed)
    assert raw[0] == 1 and len(raw) == 65
    x = x25519.X25519PrivateKey.from_private_bytes(raw[1:33])
    ed = ed25519.Ed25519PrivateKey.from_private_bytes(raw[33:]).public_key().public_bytes(*RAW)
    return x, b"\x01" + x_public(x) + ed


def kem_keys(seed_hex):
    seed = H(seed_hex)
    return ML_KEM_768._keygen_internal(seed[:32], seed[32:])  # (ek, dk)


def xwing_public(seed):
    """X-Wing (draft 06) key generation: SHAKE256(seed, 96) = ML-KEM d || z || X25519 secret;
    the public key is ML-KEM's encapsulation key then X25519's."""
    expanded = hashlib.shake_256(seed).digest(96)
    ek, _ = ML_KEM_768._keygen_internal(expanded[:32], expanded[32:64])
    return ek + x_public(x25519.X25519PrivateKey.from_private_bytes(expanded[64:]))


def kdf_rk(rk, dh_out, ss=None):
    if ss is None:
        okm = hkdf(rk, dh_out, b"missive/session/v1/root", 64)
    else:
        okm = hkdf(rk, dh_out + ss, b"missive/session/v3/root+kem", 64)
    return okm[:32], okm[32:]


def kdf_ck(ck):
    okm = expand(ck, b"missive/session/v1/chain", 64)  # HKDF-Expand with prk = CK
    return okm[:32], okm[32:]


def varint(b, at):
    value, shift = 0, 0
    while True:
        byte = b[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def parse(wire):
    """§5.4–5.6: version 3 || option(prekey header) || header || bytes(ciphertext)."""
    assert wire[0] == 3
    at, prekey = 2, None
    if wire[1] == 1:
        at += 64 + 32  # IK_A (X25519 || Ed25519), EK_A
        spk, at = varint(wire, at)  # signed prekey id
        kind, at = varint(wire, at)  # 0 one-time | 1 last resort
        ref, at = varint(wire, at)  # its id
        n, at = varint(wire, at)
        assert n == 1088
        prekey = (wire[2:66], wire[66:98], spk, kind, ref, wire[at:at + n])
        at += n
    else:
        assert wire[1] == 0
    key = wire[at:at + 32]
    at += 32
    pn, at = varint(wire, at)
    n, at = varint(wire, at)
    epoch, at = varint(wire, at)
    offer = None
    at += 1
    if wire[at - 1] == 1:
        kind, at = varint(wire, at)
        offer_epoch, at = varint(wire, at)
        length, at = varint(wire, at)
        assert length == (1184, 1088)[kind]
        offer = (kind, offer_epoch, wire[at:at + length])
        at += length
    else:
        assert wire[at - 1] == 0
    prefix = wire[:at]
    length, at = varint(wire, at)
    assert len(wire) == at + length
    return dict(key=key, pn=pn, n=n, epoch=epoch, offer=offer, prefix=prefix, ct=wire[at:],
                prekey=prekey)


def replay(path):
    f = json.loads(path.read_text())
    f = {**f["outputs"], "inputs": f["inputs"]}  # what the inputs give, beside them
    i, p = f["inputs"], f["pqxdh"]
    a_x, a_wire = identity(i["alice_identity_secret"])
    b_x, b_wire = identity(i["bob_identity_secret"])
    assert (a_wire.hex(), b_wire.hex()) == (p["alice_identity"], p["bob_identity"])
    # PQXDH (§5.3)
    base = x_secret(i["alice_keys"][0])
    spk = x_secret(i["bob_signed_prekey_secret"])
    one_time = i["bob_one_time_prekey_secret"] is not None
    opk = x_secret(i["bob_one_time_prekey_secret"] if one_time else i["bob_last_resort_secret"])
    dhs = [dh(a_x, x_public(spk)), dh(base, b_wire[1:33]), dh(base, x_public(spk)),
           dh(base, x_public(opk))]
    assert dhs == [dh(spk, a_wire[1:33]), dh(b_x, x_public(base)), dh(spk, x_public(base)),
                   dh(opk, x_public(base))]
    for k, d in zip(("dh1", "dh2", "dh3", "dh4"), dhs):
        assert p[k] == d.hex(), k
    ek, dk = kem_keys(i["bob_one_time_kem_seed"] if one_time else i["bob_last_resort_kem_seed"])
    ss, ct = ML_KEM_768._encaps_internal(ek, H(i["alice_kem_coins"][0]))
    assert ML_KEM_768._decaps_internal(dk, ct) == ss
    assert (ek.hex(), ct.hex(), ss.hex()) == (p["kem_public_key"], p["kem_ciphertext"],
                                             p["kem_shared_secret"])
    bundle = H(p["bundle"])
    assert x_public(spk) in bundle and ek in bundle
    ad = a_wire + b_wire
    sk = hkdf(b"\0" * 32, b"".join(dhs) + ss, b"missive/session/v2/pqxdh" + ad, 32)
    assert (ad.hex(), sk.hex()) == (p["ad"], p["sk"])
    # The sealed layer's secret and keys (§9.2), and Bob's sealing key in the bundle.
    seal = hkdf(b"\0" * 32, b"".join(dhs) + ss, b"missive/session/v4/seal" + ad, 32)
    initiator = expand(seal, b"missive/session/v4/seal-keys\x01", 40)
    responder = expand(seal, b"missive/session/v4/seal-keys\x02", 40)
    assert (seal.hex(), initiator[:8].hex(), initiator[8:].hex(), responder[:8].hex(),
            responder[8:].hex()) == (p["seal"], p["seal_initiator_label"],
                                     p["seal_initiator_key"], p["seal_responder_label"],
                                     p["seal_responder_key"])
    sealing = xwing_public(H(i["bob_sealing_seed"]))
    assert sealing.hex() == p["sealing_public_key"] and sealing in bundle

    wires = [H(m["wire"]) for m in f["messages"]]
    parsed = [parse(w) for w in wires]
    # Post-quantum steps (§5.5): the responder owns odd epochs, the initiator even ones.
    offers = {}
    for index, m in enumerate(parsed):
        if m["offer"]:
            kind, epoch, value = m["offer"]
            entry = offers.setdefault(epoch, [[], [], None, None])
            entry[kind].append(index)
            entry[2 + kind] = value
    secrets, owned = {}, {"alice": 0, "bob": 0}
    assert len(offers) == len(f["pq_steps"])
    for step, (epoch, (key_in, ct_in, key, ciphertext)) in zip(f["pq_steps"], sorted(offers.items())):
        owner = "bob" if epoch % 2 else "alice"
        other = "alice" if owner == "bob" else "bob"
        seed = i[owner + "_kem_seeds"][owned[owner]]
        coins = i[other + "_kem_coins"][owned[owner] + (1 if other == "alice" else 0)]
        owned[owner] += 1
        ek, dk = kem_keys(seed)
        ss, ct = ML_KEM_768._encaps_internal(ek, H(coins))
        assert (key, ciphertext) == (ek, ct) and ML_KEM_768._decaps_internal(dk, ct) == ss
        assert step == dict(epoch=epoch, owner=owner, kem_seed=seed, kem_coins=coins,
                            kem_public_key=ek.hex(), kem_ciphertext=ct.hex(),
                            kem_shared_secret=ss.hex(), key_sent_in=key_in,
                            ciphertext_sent_in=ct_in)
        secrets[epoch] = ss
    # The root chain (§5.4): steps alternate Alice, Bob, ...; each names its chain's epoch.
    alice, bob = i["alice_keys"][1:], i["bob_keys"]
    receiver, root, epoch = x_public(spk), sk, 0
    assert len(f["ratchet_steps"]) == len(alice) + len(bob)
    for k, step in enumerate(f["ratchet_steps"]):
        secret = x_secret((alice if k % 2 == 0 else bob)[k // 2])
        public = x_public(secret)
        named = {m["epoch"] for m in parsed if m["key"] == public}
        assert len(named) <= 1
        step_epoch = named.pop() if named else epoch
        shared = dh(secret, receiver)
        ss = secrets[step_epoch] if step_epoch != epoch else None
        assert step_epoch in (epoch, epoch + 1)
        root_out, chain = kdf_rk(root, shared, ss)
        assert step == dict(sender=("alice", "bob")[k % 2], sender_ratchet_public=public.hex(),
                            receiver_ratchet_public=receiver.hex(), epoch=step_epoch,
                            dh=shared.hex(), kem_shared_secret=ss.hex() if ss else None,
                            root_key_in=root.hex(), root_key_out=root_out.hex(),
                            chain_key=chain.hex()), (path.name, k)
        receiver, root, epoch = public, root_out, step_epoch
    # Messages (§5.6): open each with its chain's N-th key.
    sends = [s for s in i["script"] if s["action"] == "send"]
    for m, wire, entry, send in zip(parsed, wires, f["messages"], sends):
        k = next(k for k, s in enumerate(f["ratchet_steps"])
                 if H(s["sender_ratchet_public"]) == m["key"])
        chain = H(f["ratchet_steps"][k]["chain_key"])
        for _ in range(m["n"]):
            chain = kdf_ck(chain)[0]
        mk = kdf_ck(chain)[1]
        aad = ad + m["prefix"]
        assert ChaCha20Poly1305(mk).decrypt(b"\0" * 12, m["ct"], aad) == H(send["plaintext"])
        assert entry == dict(ratchet_step=k, previous_counter=m["pn"], counter=m["n"],
                             epoch=m["epoch"],
                             offer=("key", "ciphertext")[m["offer"][0]] if m["offer"] else None,
                             chain_key=chain.hex(), message_key=mk.hex(),
                             associated_data=aad.hex(), wire=wire.hex())
    # Receipts: what opens gives the sent text; a tampered copy never opens; a replay is a
    # message its receiver already opened.
    receives = [s for s in i["script"] if s["action"] == "receive"]
    opened = set()
    for r, s in zip(f["receipts"], receives):
        index = s["send_index"]
        if s["tamper"]:
            wire = bytearray(wires[index])
            wire[-1] ^= 0x80
            m = parse(bytes(wire))
            assert r["result"] == "DecryptionFailed"
            mk = H(f["messages"][index]["message_key"])
            try:
                ChaCha20Poly1305(mk).decrypt(b"\0" * 12, m["ct"], ad + m["prefix"])
                raise AssertionError("a tampered message opened")
            except InvalidTag:
                pass
        elif r["result"] == "ok":
            assert r["plaintext"] == sends[index]["plaintext"] and (r["to"], index) not in opened
            opened.add((r["to"], index))
        else:
            assert r["result"] == "Replay" and (r["to"], index) in opened
    # §5.3: the classical key alone (no SS) opens nothing; the engine tried it.
    assert f["classical_key_opens_first_message"] is False
    return len(f["messages"]), len(f["pq_steps"])


if __name__ == "__main__":
    here = pathlib.Path(__file__).resolve().parent
    spec = importlib.util.spec_from_file_location("session_state", here / "state.py")
    state = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(state)
    for path in sorted(here.glob("*.json")):
        if json.loads(path.read_text()).get("missive_format") == "session_state":
            cases, steps = state.replay(path)  # stored states: state.py
            print(f"{path.name}: {cases} cases, {steps} steps: ok")
            continue
        messages, steps = replay(path)
        print(f"{path.name}: {messages} messages, {steps} post-quantum steps: ok")
