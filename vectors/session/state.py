#!/usr/bin/env python3
"""An independent replay of vectors/session/state.json (format `session_state`) from PROTOCOL.md
§1, §4 and §5.1–5.7 alone: each stored session or prekey owner is decoded strictly (§5.7), the
steps are run on it with this file's own PQXDH responder and Double Ratchet (with the
post-quantum steps of §5.5), every result is compared, and the state is encoded again and
compared with what the file saved. The primitives (HKDF, X25519, ML-KEM, KDF_RK, KDF_CK, the
message parser) are verify.py's. Run: python3 vectors/session/verify.py, or alone:
python3 vectors/session/state.py [FILE]"""
import copy, hashlib, importlib.util, json, pathlib, sys
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from kyber_py.ml_kem import ML_KEM_768

HERE = pathlib.Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("session_verify", HERE / "verify.py")
v = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(v)
H = bytes.fromhex

MAX_SKIP, MAX_SKIPPED_KEYS, MAX_REPLACED, U32 = 1000, 2000, 5, 2**32 - 1
SESSION_VERSION, OWNER_VERSION = 4, 3
STAGES = ("idle", "offered", "received", "encapsulated", "ready")
IDLE = ("idle",)


class Refused(Exception):
    """A refusal, named as the vectors name it ("DecodeError::Truncated", "CryptoError::Replay")."""


def refuse(name):
    raise Refused(name)


# --- postcard (§1) ---
def varint(n):
    out = b""
    while True:
        low, n = n & 0x7F, n >> 7
        out += bytes([low | (0x80 if n else 0)])
        if not n:
            return out


def blob(b): return varint(len(b)) + b
def option(b): return b"\0" if b is None else b"\1" + b


class Reader:
    def __init__(self, data):
        self.data, self.at = data, 0

    def take(self, n):
        if self.at + n > len(self.data):
            refuse("DecodeError::Truncated")
        self.at += n
        return self.data[self.at - n:self.at]

    def varint(self, bits=32):
        # As relay/bodies.json names them: over-long is NonCanonical, too wide or too big Invalid.
        value = 0
        for shift in range(0, bits, 7):
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                if value >> bits:
                    refuse("DecodeError::Invalid")
                if byte == 0 and shift:
                    refuse("DecodeError::NonCanonical")
                return value
        refuse("DecodeError::Invalid")

    def flag(self):
        byte = self.take(1)[0]
        return byte == 1 if byte < 2 else refuse("DecodeError::Invalid")

    def sized(self, length):
        """A postcard byte string whose only valid length is `length`."""
        got = self.take(self.varint(64))
        return got if len(got) == length else refuse("DecodeError::Invalid")

    def option(self, read): return read() if self.flag() else None
    def list(self, read): return [read() for _ in range(self.varint(64))]

    def enum(self, variants):
        index = self.varint()
        return index if index < variants else refuse("DecodeError::Invalid")

    def end(self):
        if self.at != len(self.data):
            refuse("DecodeError::TrailingBytes")


def versioned(data, known):
    if not data:
        refuse("DecodeError::Truncated")
    if data[0] not in known:
        refuse("DecodeError::UnknownVersion")
    return data[0], Reader(data[1:])


def check(ok):
    if not ok:
        refuse("DecodeError::Invalid")


# --- keys ---
def x_public(secret): return v.x_public(v.x_secret(secret.hex()))
def kem_pair(seed): return v.kem_keys(seed.hex())  # (ek, dk) from d || z


def dh(secret, public):
    """X25519, refusing an all-zero output (§1); `cryptography` raises on one itself."""
    try:
        out = v.dh(v.x_secret(secret.hex()), public)
    except ValueError:
        refuse("CryptoError::NonContributory")
    return out if any(out) else refuse("CryptoError::NonContributory")


# --- stored structures (§5.2, §5.3, §5.7) ---
def read_signed(r): return r.varint(), r.take(32), r.take(64)  # id, key, signature
def signed_bytes(p): return varint(p[0]) + p[1] + p[2]
def read_sealing(r): return r.varint(), r.sized(1216), r.take(64)
def sealing_bytes(p): return varint(p[0]) + blob(p[1]) + p[2]


def read_prekey_header(r, with_ct=True):
    # IK_A, EK_A, SPK id, prekey_ref (0 one-time | 1 last resort), its id, CT
    return (r.take(64), r.take(32), r.varint(), r.enum(2), r.varint(),
            r.sized(1088) if with_ct else None)


def prekey_header_bytes(h):
    return h[0] + h[1] + varint(h[2]) + varint(h[3]) + varint(h[4]) + blob(h[5])


def read_stage(r):
    kind = r.enum(5)
    if kind == 0:
        return IDLE
    if kind == 1:
        return "offered", r.sized(64)  # our ML-KEM key's seed d || z
    if kind == 2:
        return "received", r.sized(1184)
    if kind == 3:
        return "encapsulated", r.sized(1088), r.take(32)
    return "ready", r.take(32)


def stage_bytes(stage):
    kind, fields = STAGES.index(stage[0]), list(stage[1:])
    if kind in (1, 2, 3):  # their first field is a byte string; Ready's `ss` is an array
        fields[0] = blob(fields[0])
    return varint(kind) + b"".join(fields)


def load_session(data):
    version, r = versioned(data, (1, 2, 3, 4))
    s = dict(local=r.take(64), remote=r.take(64), initiator=r.flag(), ek=r.take(32))
    s["header"] = r.option(lambda: read_prekey_header(r, version >= 2))
    s["rk"], s["dhs"] = r.take(32), r.take(32)
    s["send"] = r.option(lambda: [r.take(32), r.varint()])
    s["recv"] = r.option(lambda: [r.take(32), r.take(32), r.varint()])
    s["pn"] = r.varint()
    s["skipped"] = r.list(lambda: (r.take(32), r.varint(), r.take(32)))
    s["replaced"] = r.list(lambda: r.take(32))
    # Older versions lack the trailing fields (§5.7, last paragraph).
    s["epoch"], s["since"], s["stage"] = ((r.varint(), r.varint(), read_stage(r))
                                          if version >= 3 else (0, 0, IDLE))
    s["seal"], s["sealing"] = ((r.option(lambda: r.take(32)), r.option(lambda: read_sealing(r)))
                               if version >= 4 else (None, None))
    r.end()
    if version == 1:
        s["header"] = None  # a version 1 header cannot be sent again
    check(s["send"] or s["recv"])
    check(len(s["skipped"]) <= MAX_SKIPPED_KEYS and len(s["replaced"]) <= MAX_REPLACED)
    check(s["sealing"] is None or s["header"] is not None)
    return s


def session_bytes(s):
    send, recv = s["send"], s["recv"]
    return (bytes([SESSION_VERSION]) + s["local"] + s["remote"] + bytes([s["initiator"]]) + s["ek"]
            + option(s["header"] and prekey_header_bytes(s["header"])) + s["rk"] + s["dhs"]
            + option(send and send[0] + varint(send[1]))
            + option(recv and recv[0] + recv[1] + varint(recv[2])) + varint(s["pn"])
            + varint(len(s["skipped"])) + b"".join(k + varint(n) + mk for k, n, mk in s["skipped"])
            + varint(len(s["replaced"])) + b"".join(s["replaced"])
            + varint(s["epoch"]) + varint(s["since"]) + stage_bytes(s["stage"])
            + option(s["seal"]) + option(s["sealing"] and sealing_bytes(s["sealing"])))


def read_generation(r, classical=False):
    g = dict(spk=read_signed(r), spk_secret=r.take(32), lrk=read_signed(r), lrk_secret=r.take(32))
    g["kem"] = None if classical else r.option(lambda: (r.varint(), r.sized(1184), r.take(64),
                                                        r.sized(64)))
    check(g["spk"][1] == x_public(g["spk_secret"]) and g["lrk"][1] == x_public(g["lrk_secret"]))
    check(g["lrk"][0] == g["spk"][0] and (g["kem"] is None or g["kem"][0] == g["spk"][0]))
    check(g["kem"] is None or g["kem"][1] == kem_pair(g["kem"][3])[0])
    return g


def generation_bytes(g):
    kem = g["kem"] and varint(g["kem"][0]) + blob(g["kem"][1]) + g["kem"][2] + blob(g["kem"][3])
    return signed_bytes(g["spk"]) + g["spk_secret"] + signed_bytes(g["lrk"]) + g["lrk_secret"] + option(kem)


def load_owner(data):
    version, r = versioned(data, (1, 2, 3))
    # A version 1 owner (before ML-KEM) has no partners: no kem options at all.
    classical = version == 1
    o = dict(ik=r.take(64), current=read_generation(r, classical))
    o["previous"] = r.option(lambda: read_generation(r, classical))
    o["next"] = r.varint()
    o["one_time"] = r.list(lambda: (r.varint(), r.take(32),
                                    None if classical else r.option(lambda: r.sized(64))))
    o["sealing"] = r.list(lambda: (read_sealing(r), r.take(32))) if version >= 3 else []
    r.end()
    ids = [i for i, _, _ in o["one_time"]]
    check(ids == sorted(set(ids)) and all(i < o["next"] for i in ids))
    generations = [o["current"]["spk"][0]]
    if o["previous"]:
        check(o["previous"]["spk"][0] < generations[0])
        generations.append(o["previous"]["spk"][0])
    seals = [key[0] for key, _ in o["sealing"]]
    check(len(seals) <= 2 and seals == sorted(set(seals)) and set(seals) <= set(generations))
    check(all(key[1] == v.xwing_public(seed) for key, seed in o["sealing"]))
    return o


def owner_bytes(o):
    return (bytes([OWNER_VERSION]) + o["ik"] + generation_bytes(o["current"])
            + option(o["previous"] and generation_bytes(o["previous"])) + varint(o["next"])
            + varint(len(o["one_time"]))
            + b"".join(varint(i) + x + option(k and blob(k)) for i, x, k in o["one_time"])
            + varint(len(o["sealing"])) + b"".join(sealing_bytes(k) + seed for k, seed in o["sealing"]))


# --- the Double Ratchet (§5.4) with post-quantum steps (§5.5) ---
def ad(s):
    a, b = (s["local"], s["remote"]) if s["initiator"] else (s["remote"], s["local"])
    return b"\x01" + a + b"\x01" + b


def owns(s, epoch):
    """The responder owns odd epochs, the initiator even ones."""
    return (epoch % 2 == 1) != s["initiator"]


def skip(s, key, ck, start, end):
    """Stores the keys of messages start .. end-1 of a chain as skipped; returns its key at end."""
    if end - start > MAX_SKIP:
        refuse("CryptoError::TooManySkipped")
    for n in range(start, end):
        ck, mk = v.kdf_ck(ck)
        s["skipped"].append((key, n, mk))
    return ck


def decrypt(s, wire):
    """Returns (plaintext, new state); `s` itself is never changed, so a refusal changes nothing."""
    m, s = v.parse(wire), copy.deepcopy(s)
    key, n = m["key"], m["n"]
    hit = next((i for i, (k, j, _) in enumerate(s["skipped"]) if (k, j) == (key, n)), None)
    if hit is not None:
        mk = s["skipped"].pop(hit)[2]
    elif s["recv"] and key == s["recv"][0]:
        if n < s["recv"][2]:
            refuse("CryptoError::Replay")
        ck, mk = v.kdf_ck(skip(s, key, s["recv"][1], s["recv"][2], n))
        s["recv"] = [key, ck, n + 1]
    elif key in s["replaced"] or any(k == key for k, _, _ in s["skipped"]):
        refuse("CryptoError::Replay")  # an old chain's message, opened or evicted
    else:
        if s["recv"]:
            old, ck, nr = s["recv"]
            skip(s, old, ck, nr, m["pn"])
            s["replaced"] = (s["replaced"] + [old])[-MAX_REPLACED:]
        if m["epoch"] == s["epoch"]:
            ss = None
        elif m["epoch"] == s["epoch"] + 1 and s["stage"][0] == "encapsulated":
            ss = s["stage"][2]
        else:
            refuse("CryptoError::DecryptionFailed")
        s["rk"], ck = v.kdf_rk(s["rk"], dh(s["dhs"], key), ss)
        ck, mk = v.kdf_ck(skip(s, key, ck, 0, n))
        s["recv"], s["pn"] = [key, ck, n + 1], s["send"][1] if s["send"] else s["pn"]
        s["send"] = None
        if ss:
            s["epoch"], s["since"], s["stage"] = s["epoch"] + 1, 0, IDLE
    try:
        plaintext = ChaCha20Poly1305(mk).decrypt(b"\0" * 12, m["ct"], ad(s) + m["prefix"])
    except InvalidTag:
        refuse("CryptoError::DecryptionFailed")
    del s["skipped"][:-MAX_SKIPPED_KEYS]  # the oldest go first
    s["since"] = min(s["since"] + 1, U32)
    if m["offer"]:
        kind, epoch, value = m["offer"]
        if epoch == s["epoch"] + 1:
            if kind == 0 and s["stage"] == IDLE and not owns(s, epoch):
                s["stage"] = ("received", value)
            elif kind == 1 and s["stage"][0] == "offered":
                s["stage"] = ("ready", ML_KEM_768._decaps_internal(kem_pair(s["stage"][1])[1], value))
    s["header"] = s["sealing"] = None  # a reply came: the set-up is known to the peer
    return plaintext, s


def encrypt(s, plaintext, draw):
    """Returns (message, new state); `draw(kind)` gives the next listed key, seed or coins."""
    s = copy.deepcopy(s)
    if s["send"] is None:  # complete the DH ratchet step (§5.4)
        s["dhs"] = draw("keys")
        ss = s["stage"][1] if s["stage"][0] == "ready" else None
        s["rk"], ck = v.kdf_rk(s["rk"], dh(s["dhs"], s["recv"][0]), ss)
        s["send"] = [ck, 0]
        if ss:
            s["epoch"], s["since"], s["stage"] = s["epoch"] + 1, 0, IDLE
        if s["stage"] == IDLE and s["since"] >= 50 and owns(s, s["epoch"] + 1):
            s["stage"] = ("offered", draw("kem_seeds"))
        elif s["stage"][0] == "received":
            secret, ct = ML_KEM_768._encaps_internal(s["stage"][1], draw("kem_coins"))
            s["stage"] = ("encapsulated", ct, secret)
    ck, ns = s["send"]
    if ns == U32:
        refuse("UsageError::MessageLimitReached")
    ck, mk = v.kdf_ck(ck)
    offer = None
    if ns == 0 and s["stage"][0] == "offered":
        offer = b"\0" + varint(s["epoch"] + 1) + blob(kem_pair(s["stage"][1])[0])
    elif ns == 0 and s["stage"][0] == "encapsulated":
        offer = b"\1" + varint(s["epoch"] + 1) + blob(s["stage"][1])
    prefix = (b"\x03" + option(s["header"] and prekey_header_bytes(s["header"]))
              + x_public(s["dhs"]) + varint(s["pn"]) + varint(ns) + varint(s["epoch"]) + option(offer))
    ct = ChaCha20Poly1305(mk).encrypt(b"\0" * 12, plaintext, ad(s) + prefix)
    s["send"], s["since"] = [ck, ns + 1], min(s["since"] + 1, U32)
    return prefix + blob(ct), s


# --- PQXDH, Bob's side (§5.3) ---
def respond(o, identity_secret, wire):
    """Returns (plaintext, new session, new owner); `o` itself is never changed."""
    _, b_wire = v.identity(identity_secret.hex())
    assert b_wire[1:] == o["ik"], "the owner's identity is not the listed secret's"
    header = v.parse(wire)["prekey"]
    assert header, "not a prekey message"
    ik_a, ek_a, spk_id, kind, ref, ct = header
    gens = {g["spk"][0]: g for g in (o["current"], o["previous"]) if g}
    if spk_id not in gens:
        refuse("CryptoError::UnknownPrekey")
    o = copy.deepcopy(o)
    if kind == 0:
        held = [k for k in o["one_time"] if k[0] == ref]
        if not held:
            refuse("CryptoError::Replay" if ref < o["next"] else "CryptoError::UnknownPrekey")
        _, opk, seed = held[0]
        o["one_time"].remove(held[0])
    else:
        if ref not in gens:
            refuse("CryptoError::UnknownPrekey")
        opk, seed = gens[ref]["lrk_secret"], gens[ref]["kem"] and gens[ref]["kem"][3]
    if seed is None:
        refuse("CryptoError::UnknownPrekey")  # no bundle handed this prekey out with a partner
    spk = gens[spk_id]["spk_secret"]
    dhs = dh(spk, ik_a[:32]) + dh(identity_secret[1:33], ek_a) + dh(spk, ek_a) + dh(opk, ek_a)
    ss = ML_KEM_768._decaps_internal(kem_pair(seed)[1], ct)
    associated = b"\x01" + ik_a + b_wire
    sk = v.hkdf(b"\0" * 32, dhs + ss, b"missive/session/v2/pqxdh" + associated, 32)
    seal = v.hkdf(b"\0" * 32, dhs + ss, b"missive/session/v4/seal" + associated, 32)
    s = dict(local=o["ik"], remote=ik_a, initiator=False, ek=ek_a, header=None, rk=sk, dhs=spk,
             send=None, recv=None, pn=0, skipped=[], replaced=[], epoch=0, since=0, stage=IDLE,
             seal=seal, sealing=None)
    plaintext, s = decrypt(s, wire)
    return plaintext, s, o


def sealed_as(s):
    """How the message is sealed (§9.2): to the bundle's sealing key while it is held (beside
    the prekey header), else under the session's label for the sender's direction."""
    if s["sealing"]:
        return {"sealed": "opening",
                "sealing_key_sha256": hashlib.sha256(sealing_bytes(s["sealing"])).hexdigest()}
    if s["seal"]:
        direction = b"\x01" if s["initiator"] else b"\x02"
        label = v.expand(s["seal"], b"missive/session/v4/seal-keys" + direction, 40)[:8]
        return {"sealed": "session", "label": label.hex()}
    return {"sealed": "classical"}


# --- the file ---
def saved(data):
    if len(data) <= 4096:
        return {"bytes": data.hex()}
    return {"sha256": hashlib.sha256(data).hexdigest(), "length": len(data)}


def run(case):
    """The case's outputs, computed from its inputs alone."""
    owner, stored = case["load"] == "owner", H(case["state"])
    try:
        state = (load_owner if owner else load_session)(stored)
    except Refused as e:
        return {"loaded": e.args[0]}
    encode = owner_bytes if owner else session_bytes
    if stored[0] == (OWNER_VERSION if owner else SESSION_VERSION):
        assert encode(state) == stored, "a current state must re-encode to itself (§1)"
    lists = {k: [H(x) for x in case.get(k, [])] for k in ("keys", "kem_seeds", "kem_coins")}
    draw = lambda kind: lists[kind].pop(0)
    steps = []
    for step in case["steps"]:
        (action, value), = step.items()
        try:
            if action == "respond":
                plaintext, session, state = respond(state, H(case["identity_secret"]), H(value))
                out = {"plaintext": plaintext.hex(), "session": session_bytes(session).hex()}
            elif action == "decrypt":
                plaintext, state = decrypt(state, H(value))
                out = {"plaintext": plaintext.hex()}
            else:
                assert action == "encrypt", action
                message, state = encrypt(state, H(value), draw)
                out = {"message": message.hex(), **sealed_as(state)}
        except Refused as e:
            out = {"error": e.args[0]}
        if not owner:
            out["skipped"] = len(state["skipped"])
        steps.append(out)
    assert not any(lists.values()), f"keys listed but not drawn: {lists}"
    return {"loaded": "ok", "steps": steps, "saved": saved(encode(state))}


def replay(path):
    f = json.loads(pathlib.Path(path).read_text())
    assert f["missive_format"] == "session_state"
    cases, expected = f["inputs"]["cases"], f["outputs"]["cases"]
    assert len(cases) == len(expected)
    for index, (case, want) in enumerate(zip(cases, expected)):
        got = run(case)
        for k, (g, w) in enumerate(zip(got.get("steps", []), want.get("steps", []))):
            assert g == w, (index, "step", k, case["description"], g, w)
        assert got == want, (index, case["description"], got, want)
    return len(cases), sum(len(c["steps"]) for c in cases)


if __name__ == "__main__":
    target = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "state.json"
    cases, steps = replay(target)
    print(f"{target.name}: {cases} cases, {steps} steps: ok")
