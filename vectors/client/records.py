#!/usr/bin/env python3
"""An independent replay of vectors/client/records.json (format `records`) from PROTOCOL.md §1 and
§9.6.1 alone: KS and KR from the app key; each listed record's name (the `Record` enum), row, leaf
and plaintext opened at its version; the directory walked from the rows; the ClientState the
records hold rebuilt through state.py's codecs, giving `holds` and the state saved (§9.6); then
each case's edited rows walked again. Run: python3 vectors/client/verify.py, or alone:
python3 vectors/client/records.py [FILE]

The walk, as the text gives it: the head opens at version 0, a node or leaf at the version its
parent lists, a record at the version its leaf lists (else `StoreError::Tampered`), each listed
row present (else `StoreError::Missing`), leaf entries strictly increasing in the enum's order
and filed under that leaf, and the shape whose breach is `StoreError::Corrupt: state
head|node|leaf`: the 64 versions a postcard list, none above its parent's, no stored node or leaf
empty, no directory record in a leaf, nothing after the last field (stricter than the text: a
leaf entry at version 0 is refused here too). Not exercised by the file: Pending, Account, Links
and Labels contents; Seals buckets are checked for form only."""
import hashlib, hmac, importlib.util, json, pathlib, re, sys
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

HERE = pathlib.Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("client_state", HERE / "state.py")
cst = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cst)
H, varint, Reader = bytes.fromhex, cst.varint, cst.ss.Reader


class StoreError(Exception):
    """A load refused, named as the vectors name it ("StoreError::Tampered")."""


# --- keys, names, rows, seals (§9.6.1) ---
def expand(prk, info, n): return HKDFExpand(hashes.SHA256(), n, info).derive(prk)


def keys(k):
    prk = hmac.new(b"missive/v1/storage", k, hashlib.sha256).digest()  # HKDF-Extract(salt, K)
    return expand(prk, b"seal", 32), expand(prk, b"rows", 32)


VARIANTS = ("Head", "Node", "Leaf", "Core", "FanOut", "Seen", "Pending", "Outbox", "Peer", "Sessions",
            "Conversation", "Labels", "Catalog", "Names", "Rosters", "Account", "Links", "Seals")
FIELD = dict(Node="u8", Leaf="u16", Seen="u8", Pending="u64", Outbox="u64", Peer="id", Sessions="id",
             Conversation="id", Labels="u16", Names="u16", Rosters="u16", Seals="u16")
HEAD, NODE, LEAF = 0, 1, 2  # a record is (variant index, field: int, 16 bytes or None)


def parse(label):
    m = re.fullmatch(r"(\w+)(?:\((\w+)\))?", label)
    kind = FIELD.get(m[1])
    key = (VARIANTS.index(m[1]), None if kind is None else H(m[2]) if kind == "id" else int(m[2]))
    assert show(key) == label, ("record label", label)
    return key


def show(key):
    name, field = VARIANTS[key[0]], key[1]
    return name if field is None else f"{name}({field.hex() if isinstance(field, bytes) else field})"


def name_of(key):  # §1: u8 one raw byte, u16 and u64 varints, ids 16 raw bytes
    kind, field = FIELD.get(VARIANTS[key[0]]), key[1]
    return varint(key[0]) + (b"" if kind is None else bytes([field]) if kind == "u8"
                             else field if kind == "id" else varint(field))


def read_name(r):
    index = r.enum(len(VARIANTS))
    kind = FIELD.get(VARIANTS[index])
    return index, (None if kind is None else r.take(1)[0] if kind == "u8" else r.take(16) if kind == "id"
                   else r.varint(16 if kind == "u16" else 64))


def row_of(kr, name): return bytes(16) if name == name_of((HEAD, None)) else expand(kr, b"row" + name, 16)
def leaf_of(row): return int.from_bytes(row[:2], "big") % 4096


def open_record(rows, ks, kr, key, version):
    name = name_of(key)
    stored = rows.get(row_of(kr, name))
    if stored is None:
        raise StoreError("StoreError::Missing")
    try:
        return ChaCha20Poly1305(ks).decrypt(stored[:12], stored[12:], b"missive/v1/record" + name + version.to_bytes(8, "big"))
    except (InvalidTag, ValueError):
        raise StoreError("StoreError::Tampered")


# --- the directory (§9.6.1): head, nodes, leaves, then every record they list ---
def strict(read, data):  # postcard, and nothing after the last field
    r = Reader(data)
    value = read(r)
    r.end()
    return value


def decoded(what, data, read):
    try:
        return strict(read, data)
    except cst.REFUSED:  # a postcard refusal, or a rule broken (cst.check)
        raise StoreError(f"StoreError::Corrupt: state {what}")


def versions(r, parent):  # postcard list of 64 varints, none above the parent's version
    vs = r.list(lambda: r.varint(64))
    cst.check(len(vs) == 64 and max(vs) <= parent)
    return vs


def leaf_entries(r, kr, leaf, version):
    entries = r.list(lambda: (read_name(r), r.varint(64)))
    order = [(key[0], key[1] or 0) for key, _ in entries]  # the enum's order: variant, then field
    cst.check(entries and all(a < b for a, b in zip(order, order[1:])) and all(
        key[0] > LEAF and 1 <= v <= version and leaf_of(row_of(kr, name_of(key))) == leaf for key, v in entries))
    return dict(entries)


def walk(rows, ks, kr):
    """Load as §9.6.1 does; gives (state id, generation, {record: (version, plaintext)})."""
    head = open_record(rows, ks, kr, (HEAD, None), 0)
    state_id, generation, nodes = decoded("head", head, lambda r: (r.take(16), g := r.varint(64), versions(r, g)))
    found, leaves, listed = {(HEAD, None): (0, head)}, {}, {}
    for j, v in filter(lambda jv: jv[1], enumerate(nodes)):
        found[NODE, j] = (v, open_record(rows, ks, kr, (NODE, j), v))
        vs = decoded("node", found[NODE, j][1], lambda r: cst.check(any(vs := versions(r, v))) or vs)
        leaves.update({64 * j + i: w for i, w in enumerate(vs) if w})
    for leaf, v in leaves.items():
        found[LEAF, leaf] = (v, open_record(rows, ks, kr, (LEAF, leaf), v))
        listed.update(decoded("leaf", found[LEAF, leaf][1], lambda r: leaf_entries(r, kr, leaf, v)))
    for key, v in listed.items():
        found[key] = (v, open_record(rows, ks, kr, key, v))
    return state_id, generation, found


# --- the client state the records hold (§9.6.1's table, §9.6's ClientState) ---
PEER = cst.tup(cst.option(cst.tup(cst.BYTES, cst.IDENTITY)), cst.option(cst.PROFILE), cst.option(cst.CONNECTION),
               cst.option(cst.ID), cst.BOOL, cst.option(cst.ID), cst.BOOL)
CONTENT = {  # variant: the plaintext's codec
    "Peer": cst.C(lambda r: PEER.read(r) + (r.at < len(r.data) and cst.SIGNED_LIST.read(r) or None,), None),
    "Sessions": cst.checked(cst.seq(cst.SESSION), lambda l: 1 <= len(l) <= 4),
    "Conversation": cst.tup(cst.option(cst.CONVERSATION), cst.BOOL, cst.BOOL, cst.option(cst.GROUP_ACCESS)),
    "Seen": cst.tup(cst.U64, cst.seq(cst.ID)), "Pending": cst.BYTES,
    "Outbox": cst.tup(cst.tup(cst.CREDENTIAL, cst.ENVELOPE), cst.option(cst.ID)),
    "Catalog": cst.tup(*[cst.seq(cst.ID)] * 2, *[cst.seq(cst.U64)] * 2),
    "Account": cst.C(lambda r: (cst.ACCOUNT.read(r), r.at < len(r.data) and cst.SYNC.read(r) or cst.ZERO_SYNC), None),
    "Links": cst.tup(cst.option(cst.BYTES), cst.option(cst.BYTES)),
    **{index: cst.C(lambda r: r.list(lambda: (r.take(8), r.take(16))), None)
       for index in ("Labels", "Names", "Rosters", "Seals")}}


def client(found):
    """The ClientState the records hold: Core with every map filled from the owners' records."""
    records = {key: strict(CONTENT[VARIANTS[key[0]]].read, pt) for key, (_, pt) in found.items()
               if VARIANTS[key[0]] in CONTENT}
    core = cst.C(lambda r: {n: (cst.BYTES if n == "fanout" else c).read(r) for n, c in cst.CLIENT_STATE}, None)
    st = cst.whole(core, (3,))(found[VARIANTS.index("Core"), None][1])  # 0x03 || ClientState
    a = st["access"]
    assert not any(st[n] for n in ("contacts", "profiles", "connections", "sessions", "conversations", "direct",
                                   "groups", "opened", "fanout", "granted", "seen", "waiting")), "Core not empty"
    assert not (a["holders"] or a["peers"] or a["groups"]), "Core's access state not empty"
    st.update(fanout=cst.load_fanout(found[VARIANTS.index("FanOut"), None][1]), outbox=[], account=None,
              lists={}, sync=cst.ZERO_SYNC)
    index = {n: set() for n in ("Labels", "Names", "Rosters", "Seals")}
    chunks, numbered = [], {"Pending": {}, "Outbox": {}}
    for (variant, field), value in sorted(records.items(), key=lambda kv: kv[0]):
        kind = VARIANTS[variant]
        if kind == "Peer":
            contact, profile, connection, direct, granted, key, holds, devices = value
            assert any(v not in (None, False) for v in value), ("empty", show((variant, field)))
            for target, v in (("contacts", contact), ("profiles", profile), ("connections", connection),
                              ("direct", direct)):
                if v is not None: st[target][field] = v
            if key is not None: a["peers"][field] = key
            st["granted"] += [field] * granted
            a["holders"] += [field] * holds
            if devices is not None: st["lists"][field] = devices
        elif kind == "Sessions":
            st["sessions"][field] = value
        elif kind == "Conversation":
            state, group, opened, access = value
            assert value != (None, False, False, None), ("empty", show((variant, field)))
            assert state is None or state.id == field, ("conversation id", show((variant, field)))
            if state is not None: st["conversations"][field] = state
            st["groups"] += [field] * group
            st["opened"] += [field] * opened
            if access is not None: a["groups"][field] = access
        elif kind == "Seen":
            base, ids = value
            assert base % 64 == 0 and base // 64 % 64 == field and 1 <= len(ids) <= 64, ("seen chunk", field)
            chunks.append((base, ids))
        elif kind in numbered:
            numbered[kind][field] = value
        elif kind in index:
            assert value == sorted(set(value)) and value and all(leaf_of(k) == field for k, _ in value), show((variant, field))
            index[kind] |= set(value)
        elif kind == "Account":
            st["account"], st["sync"] = value
    chunks.sort()  # the ring: oldest first, every chunk but the newest full, bases consecutive
    assert all(len(c[1]) == 64 and c[0] + 64 == d[0] for c, d in zip(chunks, chunks[1:])), "seen ring"
    st["seen"] = [i for _, ids in chunks for i in ids]
    st["waiting"], st["outbox"] = (list(dict(sorted(numbered[k].items())).values()) for k in ("Pending", "Outbox"))
    catalog = records[VARIANTS.index("Catalog"), None]
    assert all(l == sorted(set(l)) for l in catalog), "catalog order"
    assert list(catalog) == [st["groups"], sorted(a["groups"]), sorted(numbered["Pending"]), sorted(numbered["Outbox"])], "catalog"
    name = {(hashlib.sha256(b"missive/v1/name" + user).digest()[:8], m) for m, (user, _) in st["contacts"].items()}
    assert index["Names"] == name, "names index"
    groups = [st["conversations"][g] for g in st["groups"]]
    roster = {(m[0][:8], c.id) for c in groups if not c.removed for m in c.current.roster if m[0] != c.me}
    assert index["Rosters"] == roster, "rosters index"
    labels = {(l, c.id) for c in st["conversations"].values() for ep in (c.current, c.previous) if ep
              for p in ep.peers for l in p.rx.labels[:4] + [s[1] for s in p.rx.skipped]}
    assert index["Labels"] == labels, "labels index"
    return st


def shown(data):  # hex, or SHA-256 and length past 4096 bytes
    return data.hex() if len(data) <= 4096 else {"sha256": hashlib.sha256(data).hexdigest(), "length": len(data)}


def same(where, got, want): assert got == want, (where, got, want)


def replay(path):
    f = json.loads(pathlib.Path(path).read_text())
    same("missive_format", f["missive_format"], "records")
    i, o = f["inputs"], f["outputs"]
    rows = {H(x["row"]): H(x["stored"]) for x in i["rows"]}
    same("inputs.rows: distinct", len(rows), len(i["rows"]))
    ks, kr = keys(H(i["key"]))
    same("ks", ks.hex(), o["ks"]), same("kr", kr.hex(), o["kr"])
    for n, rec in enumerate(o["records"]):
        at, key = f"records[{n}]", parse(rec["record"])
        name = name_of(key)
        same(at + ".name", name.hex(), rec["name"])
        same(at + ".row", row_of(kr, name).hex(), rec["row"])
        same(at + ".leaf", leaf_of(row_of(kr, name)) if key[0] > LEAF else None, rec.get("leaf"))
        same(at + ".plaintext", shown(open_record(rows, ks, kr, key, rec["version"])), rec["plaintext"])
        same(at + ".fields", set(rec) - {"leaf"}, {"record", "name", "row", "version", "plaintext"})
    state_id, generation, found = walk(rows, ks, kr)
    same("state_id", state_id.hex(), o["state_id"]), same("generation", generation, o["generation"])
    # The walk finds exactly the records listed, at their versions, listed in `Record` order.
    walked = [(show(k), found[k][0]) for k in sorted(found, key=lambda k: (k[0], k[1] or 0))]
    same("records", [(r["record"], r["version"]) for r in o["records"]], walked)
    same("rows: every row a listed record", set(rows), {row_of(kr, name_of(k)) for k in found})
    same("cases: count", len(i["cases"]), len(o["cases"]))
    for n, (case, want) in enumerate(zip(i["cases"], o["cases"])):
        assert set(case) <= {"description", "key", "put", "delete"}, (n, "case fields", sorted(case))
        edited = dict(rows)
        edited.update({H(p["row"]): H(p["stored"]) for p in case["put"]})
        for row in case["delete"]:
            del edited[H(row)]
        try:
            _, gen, got = walk(edited, *keys(H(case.get("key", i["key"]))))
        except StoreError as e:
            same(f"cases[{n}]", {"loaded": e.args[0]}, want)
            continue
        same(f"cases[{n}].generation", gen, o["generation"])
        st = client(got)
        same(f"cases[{n}]", {"loaded": "ok", "generation": gen, "holds": cst.holds(st), "state": shown(cst.dump(st))}, want)
        same(f"cases[{n}]: the records loaded", got, found)
    return len(o["cases"])


if __name__ == "__main__":
    target = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "records.json"
    print(f"{target.name}: {replay(target)} cases: ok")
