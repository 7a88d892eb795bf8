#!/usr/bin/env python3
"""An independent replay of vectors/relay/*.json from PROTOCOL.md §1, §7 and §8 alone, in Python
with `cryptography`. mailbox.json: every mailbox id, signed message, proof and Authorization
header recomputed, and every proof verified (or refused with the same typed error) by a strict
decoder written here: version, key, canonical varint, nonce, signature, nothing after; a
small-order key refused; a 300-second window; the signature checked. bodies.json: every relay
body encoded from its fields by the postcard rules of §1, and every refusal refused by a strict
schema-driven decoder with §7's envelope and delivery rules. refusals.json: a script of requests
run against the `missive relay` process (its flags from the file's `relay`) over real HTTP, each
proof signed here at run time, every answer's status and label compared; on SQLite, and again on a
fresh PostgreSQL database when MISSIVE_TEST_POSTGRES names a server. The binary is
target/debug/missive (`cargo build --features cli`) or $MISSIVE_BIN.
Run: python3 vectors/relay/verify.py"""
import hashlib, http.client, json, os, pathlib, re, struct, subprocess, sys, tempfile, time
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


def check_mailbox(path):
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


# --- Relay bodies (§8.3): schemas, postcard encoding and strict decoding (§1) ---
ONE_TIME = [("id", "u32"), ("key", "bytes")]
RESPONSE = [("mailbox", 16), ("bundle", "bytes"), ("one_time", ("option", ONE_TIME))]
DELIVERED = [("id", 16), ("seq", "u64"), ("received_at", "u64"), ("delivery", "bytes")]
SCHEMAS = {
    "publish_prekeys": [("bundle", "bytes"), ("one_time", ("list", ONE_TIME))],
    "prekey_response": RESPONSE,
    "device_directory": [("list", "bytes"), ("devices", ("list", RESPONSE))],
    "prekey_stock": [("one_time", "u32")],
    "delivered_envelope": DELIVERED,
    "delivery_page": [("deliveries", ("list", DELIVERED))],
    "ack": [("ids", ("list", 16))],
    "undelivered": [("mailboxes", ("list", 16))],
    "passed_delivery": [("id", 16), ("expires_at", "u64"), ("received_at", "u64"),
                        ("body", "bytes"), ("parts", ("list", [("mailbox", 16), ("part", "bytes")]))],
    # §7.1-7.2; recipients is an enum: 0 plain (list of mailboxes), 1 keyed.
    "envelope": [("expiry", "u64"), ("recipients", ("enum", [("list", 16), ("list", 56)])),
                 ("body", "bytes")],
    "delivery": [("id", 16), ("expiry", "u64"), ("mailbox", 16), ("part", ("option", 40)),
                 ("cohort", ("list", 16)), ("body", "bytes")],
}


def encode(t, v):
    if t == "bytes": return varint(len(H(v))) + H(v)
    if t in ("u32", "u64"): return varint(v)
    if isinstance(t, int): assert len(H(v)) == t; return H(v)
    if isinstance(t, list): return b"".join(encode(ft, v[name]) for name, ft in t)
    kind, inner = t
    if kind == "option": return b"\x00" if v is None else b"\x01" + encode(inner, v)
    if kind == "list": return varint(len(v)) + b"".join(encode(inner, x) for x in v)
    raise ValueError(t)


def read(t, data, at):
    """Decodes one value of type t at `at`: (value, next offset); refuses as the engine does."""
    if t in ("u32", "u64"):
        n, at, used = read_u64(data, at)
        if t == "u32" and n >= 1 << 32: raise Refused("DecodeError::Invalid")
        if used != len(varint(n)): raise Refused("DecodeError::NonCanonical")
        return n, at
    if t == "bytes":
        n, at = read("u64", data, at)
        return take(data, at, n)
    if isinstance(t, int): return take(data, at, t)
    if isinstance(t, list):
        out = {}
        for name, ft in t:
            out[name], at = read(ft, data, at)
        return out, at
    kind, inner = t
    if kind == "option":
        tag, at = take(data, at, 1)
        if tag[0] > 1: raise Refused("DecodeError::Invalid")
        return (None, at) if tag[0] == 0 else read(inner, data, at)
    if kind == "list":
        n, at = read("u64", data, at)
        items = []
        for _ in range(n):
            x, at = read(inner, data, at); items.append(x)
        return items, at
    if kind == "enum":
        tag, at = read("u32", data, at)
        if tag >= len(inner): raise Refused("DecodeError::Invalid")
        value, at = read(inner[tag], data, at)
        return (tag, value), at
    raise ValueError(t)


def decode(kind, data):
    version, at = take(data, 0, 1)
    if version[0] != 1: raise Refused("DecodeError::UnknownVersion")
    value, at = read(SCHEMAS[kind], data, at)
    if at != len(data): raise Refused("DecodeError::TrailingBytes")
    increasing = lambda ms: all(a < b for a, b in zip(ms, ms[1:]))
    if kind == "envelope":
        tag, recipients = value["recipients"]
        mailboxes = [r[:16] for r in recipients]
        if not 1 <= len(mailboxes) <= (50 if tag == 0 else 408) or not increasing(mailboxes):
            raise Refused("DecodeError::Invalid")
        if not 1 <= len(value["body"]) <= 2 << 20: raise Refused("DecodeError::Invalid")
    if kind == "delivery":
        cohort = value["cohort"]
        keyed = value["part"] is not None
        if keyed != bool(cohort) or not increasing(cohort) or (keyed and value["mailbox"] not in cohort):
            raise Refused("DecodeError::Invalid")
        if not 1 <= len(value["body"]) <= 2 << 20: raise Refused("DecodeError::Invalid")
    return value


def check_bodies(path):
    v = json.loads(path.read_text())
    i, o = v["inputs"], v["outputs"]
    for b, out in zip(i["bodies"], o["bodies"], strict=True):
        wire = b"\x01" + encode(SCHEMAS[b["kind"]], b["fields"])
        assert out == {"wire": wire.hex()}, b["description"]
        decode(b["kind"], wire)
    for r, out in zip(i["refusals"], o["refusals"], strict=True):
        try:
            decode(r["kind"], H(r["wire"])); got = "ok"
        except Refused as e:
            got = str(e)
        assert out == {"result": got}, (r["description"], got, out)
    print(f"{path.name}: {len(o['bodies'])} bodies encoded, {len(o['refusals'])} decodings "
          "recomputed: ok")


def prove(seed, method, path, body, timestamp, nonce):
    key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    public = key.public_key().public_bytes(*RAW)
    signature = key.sign(signed_message(method, path, body, timestamp, nonce))
    return b"\x01" + public + varint(timestamp) + nonce + signature


def authorization(auth, seeds, method, path, body):
    if auth is None: return None
    if "header" in auth: return auth["header"]
    timestamp = int(time.time()) + auth["clock"]
    signed = auth.get("signed_path", path)
    proof = prove(seeds[auth["mailbox"]], method, signed, body, timestamp, H(auth["nonce"]))
    return "Missive " + proof.hex()


class RelayProcess:
    """`missive relay` on a free loopback port, stopped on exit."""

    def __init__(self, relay, store=None):
        binary = os.environ.get("MISSIVE_BIN") or str(HERE.parent.parent / "target/debug/missive")
        if not pathlib.Path(binary).exists():
            sys.exit(f"{binary} is missing: build it with `cargo build --features cli`")
        self.dir = tempfile.TemporaryDirectory()
        flags = [f"--{k.replace('_', '-')}={v}" for k, v in relay.items()]
        if store: flags.append(f"--store={store}")
        self.process = subprocess.Popen(
            [binary, "relay", "--data-dir", self.dir.name, "--listen", "127.0.0.1:0", *flags],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline()
        found = re.search(r"listening on http://([\d.]+):(\d+)", line)
        if not found:
            self.stop()
            sys.exit(f"the relay did not start: {line!r}")
        self.host, self.port = found.group(1), int(found.group(2))

    def send(self, method, path, auth, body):
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        headers = {"Authorization": auth} if auth is not None else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        status, text = response.status, response.read().decode("utf-8", "replace")
        connection.close()
        return status, text

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)
        self.dir.cleanup()


def run_script(v, store=None):
    i, o = v["inputs"], v["outputs"]
    seeds = [H(s) for s in i["mailboxes"]]
    ids = [mailbox_id(ed25519.Ed25519PrivateKey.from_private_bytes(s).public_key()
                      .public_bytes(*RAW)).hex() for s in seeds]
    assert ids == o["mailboxes"], ("mailbox ids", ids)
    relay = RelayProcess(i["relay"], store)
    try:
        for n, (step, want) in enumerate(zip(i["steps"], o["answers"], strict=True)):
            body = H(step["body"])
            auth = authorization(step["auth"], seeds, step["method"], step["path"], body)
            status, text = relay.send(step["method"], step["path"], auth, body)
            got = {"status": status}
            if status >= 400: got["label"] = text.split(": ", 1)[0]
            assert got == want, (f"steps[{n}]", step["description"], got, want)
    finally:
        relay.stop()


def scratch_database(url):
    """A fresh database on the server `url` names (dropped by the caller)."""
    name = f"missive_script_{os.getpid()}"
    quiet = {**os.environ, "PGOPTIONS": "--client-min-messages=warning"}
    subprocess.run(["psql", "-q", url, "-c", f"DROP DATABASE IF EXISTS {name}"], check=True,
                   env=quiet)
    subprocess.run(["psql", "-q", url, "-c", f"CREATE DATABASE {name}"], check=True)
    return name, url.rsplit("/", 1)[0] + "/" + name


def check_script(path):
    v = json.loads(path.read_text())
    run_script(v)
    stores = ["SQLite"]
    server = os.environ.get("MISSIVE_TEST_POSTGRES")
    if server:
        name, url = scratch_database(server)
        try:
            run_script(v, url)
        finally:
            subprocess.run(["psql", "-q", server, "-c", f"DROP DATABASE {name}"], check=True)
        stores.append("PostgreSQL")
    print(f"{path.name}: {len(v['outputs']['answers'])} requests answered alike by "
          f"`missive relay` on {' and '.join(stores)}: ok")


if __name__ == "__main__":
    paths = [pathlib.Path(p) for p in sys.argv[1:]] or [
        HERE / "mailbox.json", HERE / "bodies.json", HERE / "refusals.json"]
    checks = {"bodies": check_bodies, "mailbox": check_mailbox, "refusals": check_script}
    for path in paths:
        checks[next(k for k in checks if path.name.startswith(k))](path)
