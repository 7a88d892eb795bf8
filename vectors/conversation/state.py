#!/usr/bin/env python3
"""An independent replay of vectors/conversation/state.json (format conversation_state) from
PROTOCOL.md §1, §4, §6.1–§6.6 and §6.8 alone, reusing verify.py's helpers (HKDF, chain steps,
roster hash, message sealing). Run: python3 vectors/conversation/verify.py (or this file).

Checked independently, case by case: the stored state decoded strictly (version, truncation,
trailing bytes, canonical varints, bools and option tags, rosters and device lists in increasing
order, Ed25519 keys that decode to a point not of small order, the invariants of §6.8); every
stored window asserted to be the labels and chain key §6.3 derives from its CK_high; the state
re-encoded byte for byte. Then every step run here and its output compared: `decrypt` (the label
looked up in the windows and skipped steps of both epochs; commitment, AEAD, masked signature,
padding; the window slid and the jumped steps skipped), `encrypt` (the own chain's next step,
sealed and signed, byte for byte), `accept` (the distribution decoded strictly, then §6.5's rules:
chains, commits, early distributions kept and installed), `change` (new roster, roster hash,
epoch, own chain, each handoff's bytes); the state saved after the last step compared with
`saved`. A refused step runs on a copy, so it leaves the state unchanged.

Not exercised by the vectors, so written from the text but not confirmed by any bytes: early
distributions, §12.6 devices (state version 3), a second chain of one sender, the exhausted flag.
Refusals §6 does not name take these names here: DecodeError::Invalid for a broken §6.8
invariant, NonCanonical for an order; CryptoError:: for §6.4/§6.5's bare names. Where §6 names no
outcome at all (a chain for an epoch older than the previous one, anything sent to a removed
member, a Welcome through `accept`, ...) the step raises Refused("unspecified: ..."), which no
vector output can equal: a vector reaching one fails loudly rather than passing on a guess.
Signatures are verified by OpenSSL, not with `verify_strict`'s exact rules."""
import copy, hashlib, hmac, importlib.util, json, pathlib, struct
from dataclasses import dataclass, field
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

HERE = pathlib.Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("conversation_verify", HERE / "verify.py")
cv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cv)
H, varint = bytes.fromhex, cv.varint
CHAIN, LOOKAHEAD, MAX_SKIPPED, MAX_MEMBERS = b"missive/v1/chain", 32, 64, 10_000
ROLES = {"member": 0, "admin": 1, "manager": 2}
ADHOC, DIRECT = 1, 2  # kinds (§6.1); Group is 0
WELCOME, COMMIT = 0, 1


class Refused(Exception):
    """A typed refusal, named as the vectors name it ("DecodeError::Truncated")."""


# --- Ed25519 keys (§1): a valid point, not of small order ---
P = 2**255 - 19
D = -121665 * pow(121666, P - 2, P) % P

def ed_point(b):
    y = int.from_bytes(b, "little") & ((1 << 255) - 1)
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P  # RFC 8032 §5.1.3
    if v * x * x % P != u:
        x = x * pow(2, (P - 1) // 4, P) % P
        if v * x * x % P != u: return None
    if x == 0 and b[31] >> 7: return None
    return x if x & 1 == b[31] >> 7 else P - x, y

def small_order(x, y):
    for _ in range(3):  # times 8, with the complete Edwards addition law (a = -1)
        t = D * x * x * y * y % P
        x, y = 2 * x * y * pow(1 + t, P - 2, P) % P, (y * y + x * x) * pow(1 - t, P - 2, P) % P
    return x == 0 and y == 1

def verifying_key(b):
    pt = ed_point(b)
    if pt is None or small_order(*pt): raise Refused("DecodeError::Invalid")
    return b


# --- Strict postcard reading (§1) ---
class Reader:
    def __init__(self, data): self.data, self.at = data, 0

    def take(self, n):
        if self.at + n > len(self.data): raise Refused("DecodeError::Truncated")
        self.at += n
        return self.data[self.at - n:self.at]

    def varint(self, bits=64):
        n = 0
        for shift in range(0, (bits + 6) // 7 * 7, 7):  # at most 3, 5, 10 bytes for u16, u32, u64
            b = self.take(1)[0]
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                if n >> bits: raise Refused("DecodeError::Invalid")
                if shift and not b: raise Refused("DecodeError::NonCanonical")  # over-long
                return n
        raise Refused("DecodeError::Invalid")

    def enum(self, variants):
        v = self.varint(32)
        if v >= variants: raise Refused("DecodeError::Invalid")
        return v

    def flag(self): return bool(self.enum(2))  # bool and option tag: 0 or 1 only
    def option(self, read): return read() if self.flag() else None
    def items(self, read): return [read() for _ in range(self.varint())]

    def end(self):
        if self.at != len(self.data): raise Refused("DecodeError::TrailingBytes")


def increasing(keys, kind="DecodeError::NonCanonical"):
    if any(a >= b for a, b in zip(keys, keys[1:])): raise Refused(kind)


def read_member(r):  # (id, role, identity or None): the tuples cv.roster_hash takes
    return r.take(16), r.enum(3), r.option(lambda: r.take(32) + verifying_key(r.take(32)))

def member_bytes(m): return m[0] + varint(m[1]) + (b"\x00" if m[2] is None else b"\x01" + m[2])


# --- Key distributions (§6.5) ---
@dataclass
class Distribution:
    cid: bytes; kind: int; epoch: int; roster_hash: bytes; sender: bytes
    change: tuple  # None, (WELCOME, roster) or (COMMIT, added, removed)
    chain_key: bytes; public: bytes

def read_distribution(data):
    r = Reader(data)
    if r.take(1) != b"\x01": raise Refused("DecodeError::UnknownVersion")
    head = r.take(16), r.enum(3), r.varint(), r.take(32), r.take(16)
    def change():
        if r.enum(2) == WELCOME: return WELCOME, r.items(lambda: read_member(r))
        return COMMIT, r.items(lambda: read_member(r)), r.items(lambda: r.take(16))
    d = Distribution(*head, r.option(change), r.take(32), verifying_key(r.take(32)))
    r.end()
    if d.change:
        for part in d.change[1:]: increasing([m if isinstance(m, bytes) else m[0] for m in part])
    return d

def distribution_bytes(d):
    change = b"\x00" if d.change is None else b"\x01" + varint(d.change[0]) + b"".join(
        varint(len(part)) + b"".join(m if isinstance(m, bytes) else member_bytes(m) for m in part)
        for part in d.change[1:])
    return (b"\x01" + d.cid + varint(d.kind) + varint(d.epoch) + d.roster_hash + d.sender + change
            + d.chain_key + d.public)


# --- State at rest (§6.8) ---
@dataclass
class Receiver:  # the §6.3 window: CK_high, high, L_high.., the chain key after them, skipped steps
    ck: bytes; high: int; labels: list; frontier: bytes; skipped: list  # skipped: [(i, L_i, S_i)]

@dataclass
class Peer:
    sender: bytes; vk: bytes; rx: Receiver

@dataclass
class Epoch:
    number: int; roster: list; own: list; peers: list  # own: [chain_key, index, exhausted, seed]

@dataclass
class State:
    id: bytes; kind: int; me: bytes; removed: bool; current: Epoch; previous: Epoch
    early: list; device: bytes = None; devices: list = field(default_factory=list)

    def rh(self, ep): return cv.roster_hash(self.id, self.kind, ep.number, ep.roster)
    def member_of(self, device): return dict(self.devices).get(device, device)
    def own_device(self): return self.device or self.me


def window(ck, binding, i):
    labels = []
    for j in range(i, i + LOOKAHEAD):
        ck, _, label = cv.step(ck, CHAIN, binding, j)
        labels.append(label)
    return labels, ck

def fresh(ck, binding): return Receiver(ck, 0, *window(ck, binding, 0), [])


def read_epoch(r, st):
    number, roster = r.varint(), r.items(lambda: read_member(r))
    ids = [m[0] for m in roster]
    increasing(ids)
    if not 2 <= len(roster) <= MAX_MEMBERS or any((m[2] is None) != (st.kind == ADHOC) for m in roster):
        raise Refused("DecodeError::Invalid")
    own = r.option(lambda: [r.take(32), r.varint(32), r.flag(), r.take(32)])
    def receiver():
        ck, high, labels, frontier = r.take(32), r.varint(32), r.items(lambda: r.take(8)), r.take(32)
        skipped = r.items(lambda: (r.varint(32), r.take(8), r.take(32)))
        if len(labels) != LOOKAHEAD or len(skipped) > MAX_SKIPPED: raise Refused("DecodeError::Invalid")
        increasing([s[0] for s in skipped] + [high], "DecodeError::Invalid")
        return Receiver(ck, high, labels, frontier, skipped)
    peers = r.items(lambda: Peer(r.take(16), verifying_key(r.take(32)), receiver()))
    return Epoch(number, roster, own, peers), ids


def decode_state(data):
    r = Reader(data)
    version = r.take(1)[0]
    if version not in (1, 2, 3): raise Refused("DecodeError::UnknownVersion")
    st = State(r.take(16), r.enum(3), r.take(16), r.flag(), None, None, [])
    st.current, ids = read_epoch(r, st)
    previous = r.option(lambda: read_epoch(r, st))
    if version >= 2: st.early = r.items(lambda: r.take(r.varint()))
    if version == 3:
        st.device = r.option(lambda: r.take(16))
        st.devices = r.items(lambda: (r.take(16), r.take(16)))
        if st.device is None and not st.devices: raise Refused("DecodeError::NonCanonical")  # saved as v2
        increasing([d for d, _ in st.devices])
    r.end()
    bad = st.me not in ids or st.device == st.me or (st.kind == DIRECT and len(ids) != 2)
    if previous:
        st.previous = previous[0]
        bad |= st.previous.number >= st.current.number or st.previous.own is not None  # receive-only
    for ep in filter(None, (st.current, st.previous)):
        senders = [p.sender for p in ep.peers]
        bad |= any(st.member_of(s) not in [m[0] for m in ep.roster] for s in senders)
        bad |= any(senders.count(s) > 2 for s in senders)
        bad |= any(senders.count(s) == 2 and len({p.vk for p in ep.peers if p.sender == s}) < 2 for s in senders)
        for p in ep.peers:  # a stored window must be the one §6.3 derives from its chain key
            assert (p.rx.labels, p.rx.frontier) == window(p.rx.ck, st.rh(ep) + p.sender, p.rx.high), "stored window"
    kept = [read_distribution(e) for e in st.early]
    bad |= len(kept) > len(st.current.roster) + 256 or any(
        (d.cid, d.kind) != (st.id, st.kind) or not early(st, d) for d in kept)
    bad |= len({(d.sender, d.epoch, d.change is None) for d in kept}) < len(kept)
    referenced = {p.sender for ep in (st.current, st.previous) if ep for p in ep.peers} | {d.sender for d in kept}
    bad |= any(dv == m or dv not in referenced for dv, m in st.devices)
    if bad: raise Refused("DecodeError::Invalid")
    return st


def encode_epoch(ep):
    own = b"\x00" if ep.own is None else b"\x01" + ep.own[0] + varint(ep.own[1]) + bytes([ep.own[2]]) + ep.own[3]
    def rx(x):
        return (x.ck + varint(x.high) + varint(len(x.labels)) + b"".join(x.labels) + x.frontier
                + varint(len(x.skipped)) + b"".join(varint(i) + l + s for i, l, s in x.skipped))
    return (varint(ep.number) + varint(len(ep.roster)) + b"".join(member_bytes(m) for m in ep.roster) + own
            + varint(len(ep.peers)) + b"".join(p.sender + p.vk + rx(p.rx) for p in ep.peers))


def encode_state(st):
    devices = st.device is not None or st.devices  # else version 2: an account with one device
    out = (bytes([3 if devices else 2]) + st.id + varint(st.kind) + st.me + bytes([st.removed])
           + encode_epoch(st.current) + (b"\x01" + encode_epoch(st.previous) if st.previous else b"\x00")
           + varint(len(st.early)) + b"".join(varint(len(e)) + e for e in st.early))
    if devices:
        out += (b"\x00" if st.device is None else b"\x01" + st.device) + varint(len(st.devices))
        out += b"".join(d + m for d, m in st.devices)
    return out


# --- Steps ---
def unpad(padded):
    body = padded.rstrip(b"\x00")
    if not body or body[-1] != 0x80 or len(padded) != cv.bucket(len(body) - 1):
        raise Refused("DecodeError::Invalid")
    return body[:-1]


def decrypt(st, msg):
    label, error = msg[:8], None
    for ep in filter(None, (st.current, st.previous)):
        rh = st.rh(ep)
        for p in ep.peers:
            rx = p.rx
            found = [(i, s) for i, l, s in rx.skipped if l == label]
            if label in rx.labels:  # ahead: derive again from CK_high, keeping the jumped steps
                ck, jumped = rx.ck, []
                for j in range(rx.high, rx.high + rx.labels.index(label) + 1):
                    ck, s, l = cv.step(ck, CHAIN, rh + p.sender, j)
                    jumped.append((j, l, s))
                found.append((j, jumped.pop()[2]))
            for index, secret in found:
                try:
                    body = open_message(rh, p, index, secret, msg)
                except Refused as e:
                    error = e
                    continue
                if index < rx.high:
                    rx.skipped = [x for x in rx.skipped if x[0] != index]
                else:
                    rx.skipped = (rx.skipped + jumped)[-MAX_SKIPPED:]
                    rx.ck, rx.high = ck, index + 1
                    rx.labels, rx.frontier = window(ck, rh + p.sender, rx.high)
                return {"sender": st.member_of(p.sender).hex(), "device": p.sender.hex(),
                        "epoch": ep.number, "index": index, "body": body.hex()}
    raise error or Refused("CryptoError::NoMatchingKey")


def open_message(rh, peer, index, secret, msg):  # §6.4's order: commitment, AEAD, signature, padding
    if len(msg) < 104 + 16: raise Refused("unspecified: a message shorter than its header and tag")
    K, C, M = cv.message_keys(secret, rh)
    if not hmac.compare_digest(C, msg[8:40]): raise Refused("CryptoError::CommitmentMismatch")
    ctx = rh + peer.sender + struct.pack(">I", index) + msg[:8] + C
    ct = msg[104:]
    try:
        padded = ChaCha20Poly1305(K).decrypt(bytes(12), ct, b"missive/v1/msg" + ctx)
    except InvalidTag:
        raise Refused("CryptoError::DecryptionFailed")
    sig = bytes(a ^ b for a, b in zip(msg[40:104], M))
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(peer.vk).verify(sig, b"missive/v1/sig" + ctx + hashlib.sha256(ct).digest())
    except InvalidSignature:
        raise Refused("CryptoError::BadSignature")
    return unpad(padded)


def encrypt(st, body):
    own = st.current.own
    if own is None or st.removed: raise Refused("unspecified: no own chain")
    if own[2] or own[1] > 2**32 - 2: raise Refused("UsageError::MessageLimitReached")
    rh, device = st.rh(st.current), st.own_device()
    nxt, secret, label = cv.step(own[0], CHAIN, rh + device, own[1])
    msg = cv.seal(secret, label, rh, device, own[1], own[3], body)
    own[0], own[1] = nxt, own[1] + 1
    return {"message": msg.hex()}


def early(st, d):
    return d.epoch > st.current.number + (1 if d.change else 0)


def install(ep, peer):  # §12.6: a second chain of a device under a new key is kept beside the first
    same = [p for p in ep.peers if p.sender == peer.sender]
    if any(p.vk == peer.vk for p in same): raise Refused("CryptoError::Replay")
    if len(same) == 2: ep.peers.remove(same[0])
    at = max([k + 1 for k, p in enumerate(ep.peers) if p.sender <= peer.sender], default=0)
    ep.peers.insert(at, peer)


def new_epoch(st, roster, own, peers):
    """The current epoch becomes receive-only without removed members' chains; the one before goes."""
    ids, cur = [m[0] for m in roster], st.current
    st.previous = Epoch(cur.number, cur.roster, None, [p for p in cur.peers if st.member_of(p.sender) in ids])
    st.current = Epoch(cur.number + 1, roster, own, peers)
    pending, st.early = st.early, []
    for data in pending:  # what kept is no longer early goes through the same rules, in arrival order
        d = read_distribution(data)
        if early(st, d):
            st.early.append(data)
            continue
        trial = copy.deepcopy(st)
        try:
            accept(trial, d.sender, data)
        except Refused:
            continue  # no longer fits: dropped
        st.__dict__.update(trial.__dict__)
    referenced = {p.sender for ep in (st.current, st.previous) for p in ep.peers}
    referenced |= {read_distribution(e).sender for e in st.early}
    st.devices = [(dv, m) for dv, m in st.devices if dv in referenced]


def changed_roster(roster, added, removed, error):
    ids = [m[0] for m in roster]
    if any(m[0] in ids for m in added) or any(i not in ids for i in removed): raise Refused(error)
    new = sorted([m for m in roster if m[0] not in removed] + added)
    if not 2 <= len(new) <= MAX_MEMBERS: raise Refused(error)
    return new


def accept(st, peer, data):
    d = read_distribution(data)
    if d.sender != peer: raise Refused("CryptoError::WrongSender")
    if (d.cid, d.kind) != (st.id, st.kind): raise Refused("CryptoError::WrongConversation")
    if st.removed: raise Refused("unspecified: a distribution to a removed member")
    if early(st, d):
        key = lambda k: (k.sender, k.epoch, k.change is None)  # one per sender, epoch and kind
        if key(d) in [key(read_distribution(e)) for e in st.early]: raise Refused("CryptoError::Replay")
        if len(st.early) >= len(st.current.roster) + 256: raise Refused("UsageError::TooLarge")
        st.early.append(data)
        return {"accepted": "kept"}
    cur, member = st.current, st.member_of(d.sender)
    if d.change is None:
        ep = cur if d.epoch == cur.number else st.previous if st.previous and d.epoch == st.previous.number else None
        if ep is None: raise Refused("unspecified: a chain for an epoch no longer kept")
        if d.roster_hash != st.rh(ep): raise Refused("CryptoError::RosterMismatch")
        if any(member not in [m[0] for m in e.roster] for e in (ep, cur)): raise Refused("CryptoError::WrongSender")
        if d.sender == st.own_device(): raise Refused("unspecified: a chain of the own device")
        install(ep, Peer(d.sender, d.public, fresh(d.chain_key, d.roster_hash + d.sender)))
        return {"accepted": "chain"}
    if d.change[0] == WELCOME: raise Refused("unspecified: a Welcome through accept")
    if d.epoch == cur.number: raise Refused("CryptoError::RosterMismatch")  # §6.6 promise 5
    if d.epoch != cur.number + 1: raise Refused("unspecified: a commit for an epoch already left")
    if (member, 1) not in [(m[0], m[1]) for m in cur.roster]: raise Refused("CryptoError::WrongSender")
    roster = changed_roster(cur.roster, d.change[1], d.change[2], "unspecified: a commit not fitting the roster")
    if cv.roster_hash(st.id, st.kind, d.epoch, roster) != d.roster_hash: raise Refused("CryptoError::RosterMismatch")
    if st.me not in [m[0] for m in roster]:
        st.removed, st.early = True, []
        return {"accepted": "removed"}
    new_epoch(st, roster, None, [Peer(d.sender, d.public, fresh(d.chain_key, d.roster_hash + d.sender))])
    return {"accepted": "new_epoch", "epoch": d.epoch}


def change(st, c):
    cur = st.current
    if st.removed or (st.me, 1) not in [(m[0], m[1]) for m in cur.roster]: raise Refused("unspecified: not an admin")
    added = sorted((H(m["id"]), ROLES[m["role"]], cv.identity(H(m["identity_secret"]))) for m in c["added"])
    removed = sorted(H(i) for i in c["removed"])
    increasing([m[0] for m in added], "UsageError::InvalidRoster")
    increasing(removed, "UsageError::InvalidRoster")
    roster = changed_roster(cur.roster, added, removed, "UsageError::InvalidRoster")
    old_ids, seed, ck = [m[0] for m in cur.roster], H(c["signing_seed"]), H(c["chain_key"])
    public = ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(*cv.RAW)
    rh = cv.roster_hash(st.id, st.kind, cur.number + 1, roster)
    handoffs = [{"to": m[0].hex(), "distribution": distribution_bytes(Distribution(
        st.id, st.kind, cur.number + 1, rh, st.own_device(),
        (COMMIT, added, removed) if m[0] in old_ids else (WELCOME, roster), ck, public)).hex()}
        for m in roster if m[0] != st.me]
    new_epoch(st, roster, [ck, 0, False, seed], [])
    return {"epoch": st.current.number, "roster_hash": rh.hex(), "handoffs": handoffs}


def run(st, s):
    (kind, arg), = s.items()
    if kind == "decrypt": return decrypt(st, H(arg))
    if kind == "encrypt": return encrypt(st, H(arg))
    if kind == "accept": return accept(st, H(arg["from"]), H(arg["distribution"]))
    return change(st, arg)


def check(path):
    f = json.loads(path.read_text())
    assert f["missive_format"] == "conversation_state"
    cases, outs, steps = f["inputs"]["cases"], f["outputs"]["cases"], 0
    assert len(cases) == len(outs)
    for n, (case, out) in enumerate(zip(cases, outs)):
        data = H(case["state"])
        try:
            st = decode_state(data)
        except Refused as e:
            assert out == {"loaded": str(e)}, (n, "loaded", str(e), out)
            continue
        except AssertionError as e:
            raise AssertionError(n, "loaded", *e.args)
        assert out["loaded"] == "ok", (n, "loaded", out["loaded"])
        if data[0] != 1: assert encode_state(st) == data, (n, "re-encoded state differs")
        assert len(case["steps"]) == len(out["steps"]), (n, "step count")
        for k, (s, expected) in enumerate(zip(case["steps"], out["steps"])):
            trial = copy.deepcopy(st)  # a refused step leaves the state unchanged
            try:
                got, st = run(trial, s), trial
            except Refused as e:
                got = {"error": str(e)}
            assert got == expected, (n, k, s.keys(), got, expected)
            steps += 1
        saved = encode_state(st)
        want = out["saved"]
        got = {"bytes": saved.hex()} if "bytes" in want else {"sha256": hashlib.sha256(saved).hexdigest(), "length": len(saved)}
        assert ("bytes" in want) == (len(saved) <= 4096), (n, "saved: bytes up to 4096, else a hash")
        assert got == want, (n, "saved state differs")
        decode_state(saved)
    print(f"{path.name}: {len(cases)} cases, {steps} steps: ok")


if __name__ == "__main__":
    check(HERE / "state.json")
