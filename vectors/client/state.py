#!/usr/bin/env python3
"""An independent replay of vectors/client/state.json (format `client_state`) from PROTOCOL.md
§1, §4, §5.7, §6.8, §7.1, §8.1, §9.3, §9.6, §10.2, §11 and §12.2 alone: each exported state is
decoded strictly (every field; sessions and prekey owners through vectors/session/state.py,
conversations through vectors/conversation/state.py, the fan-out state here), what it holds is
computed from what was decoded (the mailbox id from the mailbox seed, the identity from its
secret, contacts with their connections, groups, tokens by kind, the outbox), and the whole state
is encoded again and compared with the input and with `saved`.
Run: python3 vectors/client/verify.py, or alone: python3 vectors/client/state.py [FILE]

The grammar is written once, as codecs that both read and write, so that the encoder cannot
drift from the decoder. Written from the text but not exercised by the vectors (every such field
is empty or None in them): versions 2, 3, 5 and 6, fan-out chains, profiles of contacts,
advertiser certificates, lead forms, registered keys and settings, pending token requests,
resends, waiting deliveries, device lists. Refusals the text does not name are guesses, marked."""
import hashlib, importlib.util, json, pathlib, sys
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

HERE = pathlib.Path(__file__).resolve().parent


def sibling(folder):
    spec = importlib.util.spec_from_file_location(f"{folder}_state", HERE.parent / folder / "state.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ss, cs = sibling("session"), sibling("conversation")  # §5.7 and §6.8 decoders, and their readers
cv = cs.cv  # conversation/verify.py: the chain step of §6.3
REFUSED = (ss.Refused, cs.Refused)
H, varint, blob, RAW = bytes.fromhex, ss.varint, ss.blob, cv.RAW
KINDS = ("Invite", "Credit", "Premium", "Sponsored")


def refuse(name): raise ss.Refused(name)
def check(ok, name="DecodeError::Invalid"): ok or refuse(name)


# --- postcard codecs (§1) over session/state.py's strict Reader: one object reads and writes ---
class C:
    def __init__(self, read, write): self.read, self.write = read, write


def raw(n): return C(lambda r: r.take(n), lambda v: v)
def sized(n): return C(lambda r: r.sized(n), blob)  # `bytes (n)`: length-prefixed, only n allowed
ID, KEY, SIG = raw(16), raw(32), raw(64)
U32, U64 = C(lambda r: r.varint(32), varint), C(lambda r: r.varint(64), varint)
BOOL = C(lambda r: r.flag(), lambda v: bytes([v]))
BYTES = C(lambda r: r.take(r.varint(64)), blob)


def utf8(b):
    try:
        return b.decode()
    except UnicodeDecodeError:
        refuse("DecodeError::Invalid")  # §1: "refused", under no name (a guess)


STRING = C(lambda r: utf8(BYTES.read(r)), lambda v: blob(v.encode()))
def option(c): return C(lambda r: r.option(lambda: c.read(r)), lambda v: ss.option(None if v is None else c.write(v)))
def seq(c): return C(lambda r: r.list(lambda: c.read(r)), lambda v: varint(len(v)) + b"".join(map(c.write, v)))
def tup(*codecs):
    return C(lambda r: tuple(c.read(r) for c in codecs), lambda v: b"".join(c.write(x) for c, x in zip(codecs, v)))


def struct(*fields):  # (name, codec) in declaration order, read into a dict
    return C(lambda r: {n: c.read(r) for n, c in fields}, lambda v: b"".join(c.write(v[n]) for n, c in fields))


def enum(*variants):  # a variant is a name, or (name, codec of its fields); a value is (name, fields)
    variants = [(v, None) if isinstance(v, str) else v for v in variants]
    names = [n for n, _ in variants]
    def read(r):
        name, c = variants[r.enum(len(variants))]
        return name, c and c.read(r)
    def write(v):
        c = variants[names.index(v[0])][1]
        return varint(names.index(v[0])) + (c.write(v[1]) if c else b"")
    return C(read, write)


def checked(codec, ok, name="DecodeError::Invalid"):  # a codec whose values must pass `ok`
    def read(r):
        value = codec.read(r)
        check(ok(value), name)
        return value
    return C(read, codec.write)


def increasing(keys): return all(a < b for a, b in zip(keys, keys[1:]))


def ordered(r, keys):
    # Maps and Sets are strictly increasing, each key once, so a state has one encoding (§9.6).
    # Version 2 wrote hash order and is read without the order check; a key twice is still
    # refused there (the text does not say: a guess).
    check(increasing(sorted(keys) if getattr(r, "unordered", False) else keys), "DecodeError::NonCanonical")
    return keys


def mapping(k, v):
    pairs = seq(tup(k, v))
    def read(r):
        items = pairs.read(r)
        ordered(r, [key for key, _ in items])
        return dict(items)
    return C(read, lambda m: pairs.write(sorted(m.items())))


def setof(k): return C(lambda r: sorted(ordered(r, seq(k).read(r))), lambda s: seq(k).write(sorted(s)))
def nested(load, dump): return C(lambda r: load(BYTES.read(r)), lambda v: blob(dump(v)))  # `bytes` holding one


def whole(codec, versions):  # `version || postcard(…)` and nothing after it
    def load(data):
        version, r = ss.versioned(data, versions)
        value = codec.read(r)
        r.end()
        return value
    return load


# --- keys (§4.1, §4.2, §8.1) ---
def verifying(b):
    cs.verifying_key(b)  # a valid Ed25519 point, not of small order (§1)
    return b


VK = C(lambda r: verifying(r.take(32)), lambda v: v)
IDENTITY = C(lambda r: r.take(32) + VK.read(r), lambda v: v)  # PublicIdentity (64): no version byte
SECRET = nested(whole(raw(64), (1,)), lambda s: b"\x01" + s)  # §4.2: 0x01 || dh_secret || ed25519_seed
def ed_public(seed): return ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(*RAW)
def x_public(secret): return x25519.X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes(*RAW)
def public_wire(secret): return b"\x01" + x_public(secret[:32]) + ed_public(secret[32:])
def mailbox_id(seed): return hashlib.sha256(b"missive/mailbox/v1" + ed_public(seed)).digest()[:16]


# --- §6.8 FanOutState (no sibling decodes it) ---
SENDER = struct(("chain_key", KEY), ("index", U32), ("exhausted", BOOL))
RECEIVER = struct(("ck", KEY), ("high", U32), ("labels", seq(raw(8))), ("frontier", KEY),
                  ("skipped", seq(tup(U32, raw(8), KEY))))
INCOMING = {1: struct(("sender", ID), ("vk", VK), ("rx", RECEIVER)),
            2: struct(("sender", ID), ("member", ID), ("vk", VK), ("rx", RECEIVER))}
def fanout_codec(version):
    return struct(("me", ID), ("seed", KEY), ("out", seq(tup(ID, SENDER))), ("in", seq(INCOMING[version])))


def load_fanout(data):
    version, r = ss.versioned(data, (1, 2))
    f = fanout_codec(version).read(r)
    r.end()
    for chain in f["in"]:
        chain.setdefault("member", chain["sender"])  # version 1: every sender is its member's first device
        rx = chain["rx"]
        check(len(rx["labels"]) == cs.LOOKAHEAD and len(rx["skipped"]) <= cs.MAX_SKIPPED)
        check(increasing([i for i, _, _ in rx["skipped"]] + [rx["high"]]))
        ck, labels = rx["ck"], []  # the stored window must be what §6.3 derives for sender -> me
        for j in range(rx["high"], rx["high"] + cs.LOOKAHEAD):
            ck, _, label = cv.step(ck, b"missive/v1/fanout", chain["sender"] + f["me"], j)
            labels.append(label)
        assert (labels, ck) == (rx["labels"], rx["frontier"]), "a stored fan-out window is not §6.3's"
    if version == 2:  # written only when some sender device is not its member's id
        check(any(c["member"] != c["sender"] for c in f["in"]), "DecodeError::NonCanonical")
    return f


def fanout_bytes(f):
    version = 2 if any(c["member"] != c["sender"] for c in f["in"]) else 1
    return bytes([version]) + fanout_codec(version).write(f)


# --- §10.2 certificates, §11 access, §12.2 device lists ---
# Inline, as postcard structs: the 0x01 of a certificate's wire form is not stored.
ACCOUNT_CERT = struct(("mailbox", ID), ("tier", enum("Free", "PremiumCareer", "PremiumBusiness")),
                      ("advertiser", BOOL), ("expires", U64), ("signature", SIG))
ADVERTISER_CERT = struct(("name", STRING), ("mailbox", ID), ("identity", IDENTITY), ("signature", SIG))
KIND = enum(*KINDS)
TOKEN = struct(("kind", KIND), ("period", U32), ("input", KEY), ("output", sized(64)))
PENDING = struct(("kind", KIND), ("period", U32),
                 ("blinds", checked(seq(tup(KEY, KEY, KEY)), lambda l: 1 <= len(l) <= 100)))
# The text says these lists are "in increasing order" but names no refusal (a guess).
ROSTER = checked(seq(ID), increasing, "DecodeError::NonCanonical")
GROUP_ACCESS = struct(("epoch", U64), ("secret", KEY), ("members", ROSTER), ("previous", option(tup(KEY, ROSTER))))
MAILBOX_SETTINGS = struct(("open_profile", BOOL), ("sponsored", BOOL), ("account", option(ACCOUNT_CERT)))
REGISTERED = struct(("contact", option(ID)), ("keys", seq(ID)), ("settings", option(MAILBOX_SETTINGS)))
ACCESS = struct(("contact", ID), ("holders", setof(ID)), ("rotate", BOOL), ("peers", mapping(ID, ID)),
                ("groups", mapping(ID, GROUP_ACCESS)), ("registered", REGISTERED), ("tokens", seq(TOKEN)),
                ("pending", checked(seq(nested(whole(PENDING, (1,)), lambda p: b"\x01" + PENDING.write(p))),
                                    lambda l: len(l) <= 8)),
                ("account", option(ACCOUNT_CERT)))

DEVICE = struct(("id", U32), ("mailbox", ID), ("identity", IDENTITY))
DEVICE_LIST = struct(("version", U64), ("next_id", U32), ("devices", seq(DEVICE)))
SIGNED = struct(("account", IDENTITY), ("list", DEVICE_LIST), ("signature", SIG))


def load_device_list(data):  # the decoder's checks of §12.2; the signature is checked where it is used
    s = whole(SIGNED, (1,))(data)
    dl, devices = s["list"], s["list"]["devices"]
    check(increasing([d["id"] for d in devices]), "DecodeError::NonCanonical")
    check(1 <= len(devices) <= 8 and dl["version"] >= 1 and all(1 <= d["id"] < dl["next_id"] for d in devices))
    check(len({d["mailbox"] for d in devices}) == len({d["identity"] for d in devices}) == len(devices))
    return s


SIGNED_LIST = nested(load_device_list, lambda s: b"\x01" + SIGNED.write(s))


def verified(s, account):
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(account[32:]).verify(
            s["signature"], b"missive/device-list/v1" + b"\x01" + account + DEVICE_LIST.write(s["list"]))
    except InvalidSignature:
        return False
    return s["account"] == account


# --- §7.1 envelopes and §11.2 submissions: the outbox ---
def read_envelope(r):
    expiry, keyed = r.varint(64), r.enum(2)
    recipients = r.list(lambda: r.take(56 if keyed else 16))  # mailbox, and a keyed part's label || wrapped
    body = r.take(r.varint(64))
    # §7.1 names none of these refusals (a guess).
    check(increasing([m[:16] for m in recipients]) and 1 <= len(recipients) <= (408 if keyed else 50))
    check(1 <= len(body) <= 2 << 20)
    return expiry, keyed, recipients, body


ENVELOPE = nested(whole(C(read_envelope, None), (1,)), lambda e: b"\x01" + varint(e[0]) + bytes([e[1]])
                  + varint(len(e[2])) + b"".join(e[2]) + blob(e[3]))
CREDENTIAL = enum(("Contacts", ID), ("Keys", seq(seq(ID))), ("Token", TOKEN), "Open",
                  ("Member", struct(("token", TOKEN), ("user", BYTES))))
# postcard(Submission) alone: the bytes show no 0x01 before an outbox entry's credential.
OUTBOX = seq(tup(tup(CREDENTIAL, ENVELOPE), option(ID)))


# --- §9.6 ClientState ---
SESSION = nested(ss.load_session, ss.session_bytes)
CONVERSATION = nested(cs.decode_state, cs.encode_state)
PROFILE = tup(enum("Free", "PremiumCareer", "PremiumBusiness"), BOOL)  # tier, open_profile
CONNECTION = enum("Invited", ("InvitedUs", option(STRING)), "Connected")
RESEND = checked(struct(("digest", KEY), ("expiry", U64), ("body", BYTES), ("conversation", ID),
                        ("recipients", seq(ID)), ("due", U64), ("attempts", U64)),
                 lambda e: e["digest"] == hashlib.sha256(e["body"]).digest())  # SHA-256(body): refusal a guess
CLIENT_STATE = [
    ("user", BYTES), ("secret", SECRET), ("mailbox_seed", KEY), ("owner", nested(ss.load_owner, ss.owner_bytes)),
    ("profile", PROFILE), ("settings", tup(BOOL, BOOL, BOOL)), ("platform", option(KEY)),
    ("advertiser", option(ADVERTISER_CERT)), ("lead_forms", seq(tup(ID, KEY))),
    ("contacts", mapping(ID, tup(BYTES, IDENTITY))), ("profiles", mapping(ID, PROFILE)),
    ("connections", mapping(ID, CONNECTION)),
    ("sessions", mapping(ID, checked(seq(SESSION), lambda l: 1 <= len(l) <= 4))),  # a peer holds 1 to 4
    ("conversations", mapping(ID, CONVERSATION)), ("direct", mapping(ID, ID)), ("groups", setof(ID)),
    ("opened", setof(ID)), ("access", ACCESS), ("fanout", nested(load_fanout, fanout_bytes)),
    ("granted", setof(ID)), ("seen", seq(ID)), ("waiting", seq(BYTES)),
    ("resends", checked(seq(RESEND), lambda l: len(l) <= 64))]


def _v2_sessions(r):  # version 2: (mailbox, session) pairs, a peer's adjacent, the current first
    out = {}
    for mailbox, session in seq(tup(ID, SESSION)).read(r):
        check(mailbox not in out or list(out)[-1] == mailbox)  # not adjacent: a guess at the refusal
        out.setdefault(mailbox, []).append(session)
    check(all(len(l) <= 4 for l in out.values()))
    return out


def _keyed(r, pairs):
    ordered(r, [k for k, _ in pairs])
    return dict(pairs)


V2 = dict(contacts=C(lambda r: _keyed(r, [(m, (u, i)) for u, m, i in seq(tup(BYTES, ID, IDENTITY)).read(r)]), None),
          sessions=C(_v2_sessions, None),
          conversations=C(lambda r: _keyed(r, [(c.id, c) for c in seq(CONVERSATION).read(r)]), None))

STAMP = struct(("time", U64), ("device", ID))
ACCOUNT = struct(("secret", option(SECRET)), ("member", option(ID)), ("device", U32), ("list", SIGNED_LIST))
SYNC = struct(("clock", U64), ("settings", STAMP), ("share", BOOL), ("key", STAMP), ("renotify", BOOL))
ZERO_STAMP = dict(time=0, device=bytes(16))
ZERO_SYNC = dict(clock=0, settings=ZERO_STAMP, share=False, key=ZERO_STAMP, renotify=False)
TAIL = dict(outbox=OUTBOX, account=option(ACCOUNT), lists=mapping(ID, SIGNED_LIST), sync=SYNC)
AFTER = {2: [], 3: [], 4: ["outbox"], 5: ["outbox", "account", "lists"], 6: ["outbox", "account", "lists", "sync"]}


def load(data):
    version, r = ss.versioned(data, tuple(AFTER))
    r.unordered = version == 2
    st = {name: (V2.get(name, codec) if version == 2 else codec).read(r) for name, codec in CLIENT_STATE}
    st.update(outbox=[], account=None, lists={}, sync=ZERO_SYNC)  # what an older version loads with
    st.update({name: TAIL[name].read(r) for name in AFTER[version]})
    r.end()
    # A version is written only when the one below cannot hold the state, so that a state has
    # one encoding (§9.6): a needless version 5 or 6 is refused.
    if version == 5:
        check(st["account"] is not None or st["lists"], "DecodeError::NonCanonical")
    if version == 6:
        check(st["account"] is not None and st["sync"] != ZERO_SYNC, "DecodeError::NonCanonical")
    check(all(c.id == cid for cid, c in st["conversations"].items()))  # stored under its own id
    if st["account"]:  # §9.6.1: the list verifies under the account identity and names this device
        a, own = st["account"], public_wire(st["secret"])
        account = public_wire(a["secret"])[1:] if a["secret"] else own[1:]
        mine = dict(id=a["device"], mailbox=mailbox_id(st["mailbox_seed"]), identity=own[1:])
        check(verified(a["list"], account) and mine in a["list"]["list"]["devices"])  # refusal unnamed: a guess
    return st


def dump(st):
    version = 6 if st["sync"] != ZERO_SYNC else 5 if st["account"] is not None or st["lists"] else 4
    return (bytes([version]) + b"".join(codec.write(st[name]) for name, codec in CLIENT_STATE)
            + b"".join(TAIL[name].write(st[name]) for name in AFTER[version]))


# --- what a loaded client gives through the API ---
def holds(st):
    connection = {mailbox: c[0] for mailbox, c in st["connections"].items()}
    return {
        "user": st["user"].hex(), "mailbox": mailbox_id(st["mailbox_seed"]).hex(),
        "identity": public_wire(st["secret"]).hex(),
        "contacts": [{"mailbox": m.hex(), "user": user.hex(), "identity": (b"\x01" + identity).hex(),
                      "connection": connection.get(m, "None")}
                     for m, (user, identity) in sorted(st["contacts"].items())],
        "groups": [g.hex() for g in sorted(st["groups"])],
        "tokens": [{"kind": k, "count": sum(t["kind"][0] == k for t in st["access"]["tokens"])} for k in KINDS],
        "outbox": len(st["outbox"])}


def saved(data):
    if len(data) <= 4096:
        return {"bytes": data.hex()}
    return {"sha256": hashlib.sha256(data).hexdigest(), "length": len(data)}


def replay(path):
    f = json.loads(pathlib.Path(path).read_text())
    assert f["missive_format"] == "client_state"
    cases, outs = f["inputs"]["cases"], f["outputs"]["cases"]
    assert len(cases) == len(outs), "case count"
    for n, (case, want) in enumerate(zip(cases, outs)):
        stored = H(case["state"])
        try:
            st = load(stored)
        except REFUSED as e:
            assert want == {"loaded": e.args[0]}, (n, "loaded", e.args[0], want)
            continue
        assert want["loaded"] == "ok", (n, "loaded", "ok", want["loaded"])
        got = holds(st)
        for field in sorted(set(got) | set(want["holds"])):
            pair = got.get(field), want["holds"].get(field)
            assert pair[0] == pair[1], (n, f"holds.{field}", *pair)
        again = dump(st)
        if stored[0] == again[0]:  # an older version is saved as the current one (§9.6)
            assert again == stored, (n, "saved", "the state encoded again differs from the input")
        assert saved(again) == want["saved"], (n, "saved", saved(again), want["saved"])
        assert set(want) == {"loaded", "holds", "saved"}, (n, "fields", sorted(want))
    return len(cases)


if __name__ == "__main__":
    target = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "state.json"
    print(f"{target.name}: {replay(target)} cases: ok")
