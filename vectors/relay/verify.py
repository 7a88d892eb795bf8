#!/usr/bin/env python3
"""An independent replay of vectors/relay/*.json from PROTOCOL.md §1, §7, §8, §10.2 and §11 alone,
in Python with `cryptography` (and, for tokens, the system's libsodium through ctypes).
mailbox.json: every mailbox id, signed message, proof and Authorization header recomputed, and
every proof verified (or refused with the same typed error) by a strict decoder written here:
version, key, canonical varint, nonce, signature, nothing after; a small-order key refused; a
300-second window; the signature checked. bodies.json: every relay body encoded from its fields
by the postcard rules of §1, and every refusal refused by a strict schema-driven decoder with
§7's envelope and delivery rules. refusals.json: a script of requests run against the `missive
relay` process (its flags from the file's `relay`, its platform key written from
`relay.platform_seed` to <data-dir>/platform.key) over real HTTP, each proof signed here at run
time, every answer's status and label compared; on SQLite, and again on a fresh PostgreSQL
database when MISSIVE_TEST_POSTGRES names a server. Its token steps are played as a client
would (§11.3, RFC 9497 VOPRF ristretto255-SHA512 written here over libsodium's ristretto255,
first checked on the RFC's own vectors in vectors/third_party/voprf/): an `issue` step blinds
fresh random inputs for the current month and sends a TokenIssue with the given account
certificate; a 200 answer's TokenIssued is decoded strictly, its batch DLEQ proof verified
against the key it names (not compared with GET /v1/tokens/{kind}/{period}, which the script
does not request), and its elements unblinded and finalized into tokens; a `spend` step submits
an envelope (§7.1) under Credential::Token (§11.2) with such a token. The binary is
target/debug/missive (`cargo build --features cli`) or $MISSIVE_BIN.
Run: python3 vectors/relay/verify.py [FILE.json ...] (a file is checked as mailbox, bodies or
refusals by the start of its name)"""
import ctypes, ctypes.util, hashlib, http.client, json, os, pathlib, re, secrets, struct, subprocess
import sys, tempfile, time
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
    # §11.3, as a client decodes the answer to a token request; not in bodies.json.
    "token_issued": [("key", 32), ("evaluated", ("list", 32)), ("proof", "bytes")],
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


# --- Tokens (§11.3): the client side of RFC 9497 VOPRF, ristretto255-SHA512 ---
# The group through the system's libsodium (as vectors/access/verify.py does; that file runs its
# checks when imported, so the few functions are repeated here): elements are 32-byte ristretto255
# encodings, scalars Python integers below L, serialized little-endian.
L = 2**252 + 27742317777372353535851937790883648493
CONTEXT = b"OPRFV1-\x01-ristretto255-SHA512"  # "OPRFV1-" || I2OSP(modeVOPRF, 1) || "-" || suite
TOKEN_KINDS = {"invite": 0, "credit": 1, "premium": 2, "sponsored": 3}
_sodium = None


def sodium():
    global _sodium
    if _sodium is None:
        _sodium = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
        assert _sodium.sodium_init() >= 0, "libsodium did not initialise"
    return _sodium


def xmd(msg, dst, n):  # RFC 9380 §5.3.1 expand_message_xmd, SHA-512
    dst_prime = dst + bytes([len(dst)])
    b0 = hashlib.sha512(bytes(128) + msg + n.to_bytes(2, "big") + b"\x00" + dst_prime).digest()
    out = b = hashlib.sha512(b0 + b"\x01" + dst_prime).digest()
    for i in range(2, -(-n // 64) + 1):
        b = hashlib.sha512(bytes(x ^ y for x, y in zip(b0, b)) + bytes([i]) + dst_prime).digest()
        out += b
    return out[:n]


def _point(call, *args):
    out = ctypes.create_string_buffer(32)
    if call(out, *args) != 0: raise Refused("CryptoError: identity or invalid ristretto255 element")
    return out.raw


def hash_to_group(data):  # RFC 9497 §4.1: HashToGroup, DST "HashToGroup-" || contextString
    return _point(sodium().crypto_core_ristretto255_from_hash, xmd(data, b"HashToGroup-" + CONTEXT, 64))


def hash_to_scalar(data):  # RFC 9497 §4.1: HashToScalar, DST "HashToScalar-" || contextString
    return int.from_bytes(xmd(data, b"HashToScalar-" + CONTEXT, 64), "little") % L


def mul(k, element):  # k·element; an identity result (or an invalid element) is refused
    return _point(sodium().crypto_scalarmult_ristretto255, k.to_bytes(32, "little"), element)


def mul_base(k):
    return _point(sodium().crypto_scalarmult_ristretto255_base, k.to_bytes(32, "little"))


def add(a, b):
    if a is None: return b  # None stands for the identity
    return _point(sodium().crypto_core_ristretto255_add, a, b)


def invert(k):
    out = ctypes.create_string_buffer(32)
    assert sodium().crypto_core_ristretto255_scalar_invert(out, k.to_bytes(32, "little")) == 0
    return int.from_bytes(out.raw, "little")


def lp(b):  # I2OSP(len(b), 2) || b
    return len(b).to_bytes(2, "big") + b


def blind(data, r=None):
    """RFC 9497 §3.3.2 Blind: (r, r·HashToGroup(data)), r a fresh random nonzero scalar."""
    r = r if r is not None else 1 + secrets.randbelow(L - 1)
    return r, mul(r, hash_to_group(data))


def verify_proof(pk, blinded, evaluated, proof):
    """RFC 9497 §2.2.2 VerifyProof(G, pkS, C = blinded, D = evaluated, proof = c || s)."""
    if len(proof) != 64: raise Refused("CryptoError: proof length")
    seed = hashlib.sha512(lp(pk) + lp(b"Seed-" + CONTEXT)).digest()  # ComputeComposites
    m = z = None
    for i, (c_i, d_i) in enumerate(zip(blinded, evaluated, strict=True)):
        d = hash_to_scalar(lp(seed) + i.to_bytes(2, "big") + lp(c_i) + lp(d_i) + b"Composite")
        m, z = add(m, mul(d, c_i)), add(z, mul(d, d_i))
    c, s = int.from_bytes(proof[:32], "little"), int.from_bytes(proof[32:], "little")
    if c >= L or s >= L: raise Refused("CryptoError: proof scalar not canonical")
    t2 = add(mul_base(s), mul(c, pk))
    t3 = add(mul(s, m), mul(c, z))
    if hash_to_scalar(lp(pk) + lp(m) + lp(z) + lp(t2) + lp(t3) + b"Challenge") != c:
        raise Refused("CryptoError: the DLEQ proof does not verify")


def finalize(data, r, element):
    """RFC 9497 §3.3.2 Finalize after the proof: unblind with r⁻¹, then hash."""
    return hashlib.sha512(lp(data) + lp(mul(invert(r), element)) + b"Finalize").digest()


def check_voprf_vectors():
    """The VOPRF above on RFC 9497 Appendix A.1.2 (vectors/third_party/voprf/) before it is used."""
    path = HERE.parent / "third_party/voprf/rfc9497_ristretto255_sha512_voprf.json"
    v = json.loads(path.read_text())
    assert mul_base(int.from_bytes(H(v["skSm"]), "little")) == H(v["pkSm"]), "pkSm"
    for t in v["vectors"]:
        rs = [blind(H(x), int.from_bytes(H(b), "little"))[0] for x, b in zip(t["Input"], t["Blind"])]
        blinded = [blind(H(x), r)[1] for x, r in zip(t["Input"], rs)]
        assert [b.hex() for b in blinded] == t["BlindedElement"], t["name"]
        evaluated = [H(e) for e in t["EvaluationElement"]]
        verify_proof(H(v["pkSm"]), blinded, evaluated, H(t["Proof"]))
        outputs = [finalize(H(x), r, e).hex() for x, r, e in zip(t["Input"], rs, evaluated)]
        assert outputs == t["Output"], t["name"]
        bad = bytearray(H(t["Proof"])); bad[0] ^= 1
        try:
            verify_proof(H(v["pkSm"]), blinded, evaluated, bytes(bad)); raise AssertionError(t["name"])
        except Refused:
            pass
    return len(v["vectors"])


def month_of(unix):
    """The period of §11.3: calendar months since January 1970, UTC."""
    t = time.gmtime(unix)
    return (t.tm_year - 1970) * 12 + t.tm_mon - 1


def token_issue(issue):
    """A step's `issue` as TokenIssue (§11.3) for this month: (body, pending state)."""
    kind, period = TOKEN_KINDS[issue["kind"].lower()], month_of(time.time())
    pending = []
    for _ in range(issue["count"]):
        data = secrets.token_bytes(32)
        r, blinded = blind(data)
        pending.append((data, r, blinded))
    request = varint(kind) + varint(period) + varint(len(pending)) + b"".join(p[2] for p in pending)
    # account: the AccountCertificate's postcard as given; purchase: None.
    return b"\x01" + H(issue["account"]) + request + b"\x00", (kind, period, pending)


def tokens_issued(answer, pending):
    """A 200 answer to a token request: TokenIssued decoded, its proof verified, and the tokens
    (kind, period, input, output) it gives."""
    kind, period, items = pending
    issued = decode("token_issued", answer)
    if len(issued["evaluated"]) != len(items): raise Refused("TokenIssued: wrong number of elements")
    verify_proof(issued["key"], [p[2] for p in items], issued["evaluated"], issued["proof"])
    return [(kind, period, data, finalize(data, r, e))
            for (data, r, _), e in zip(items, issued["evaluated"])]


def token_submission(token, mailboxes, expiry, body):
    """Submission (§11.2) presenting Credential::Token for a plain envelope (§7.1)."""
    kind, period, data, output = token
    envelope = (b"\x01" + varint(expiry) + b"\x00" + varint(len(mailboxes))
                + b"".join(sorted(mailboxes)) + varint(len(body)) + body)
    credential = varint(2) + varint(kind) + varint(period) + data + varint(len(output)) + output
    return b"\x01" + credential + varint(len(envelope)) + envelope


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
    """`missive relay` on a free loopback port, stopped on exit. `relay` holds its flags, and
    `platform_seed`: the platform key's seed, which it reads from <data-dir>/platform.key (the data
    directory holds it with a PostgreSQL store too)."""

    def __init__(self, relay, store=None):
        binary = os.environ.get("MISSIVE_BIN") or str(HERE.parent.parent / "target/debug/missive")
        if not pathlib.Path(binary).exists():
            sys.exit(f"{binary} is missing: build it with `cargo build --features cli`")
        self.dir = tempfile.TemporaryDirectory()
        if "platform_seed" in relay:
            (pathlib.Path(self.dir.name) / "platform.key").write_bytes(H(relay["platform_seed"]))
        flags = [f"--{k.replace('_', '-')}={v}" for k, v in relay.items() if k != "platform_seed"]
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
        status, answer = response.status, response.read()
        connection.close()
        return status, answer

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
    tokens = {}  # step index -> the tokens its token request obtained
    try:
        for n, (step, want) in enumerate(zip(i["steps"], o["answers"], strict=True)):
            where = (f"steps[{n}]", step["description"])
            pending = None
            if "issue" in step:
                body, pending = token_issue(step["issue"])
            elif "spend" in step:
                spend = step["spend"]
                assert tokens.get(spend["issued"]), (*where, f"steps[{spend['issued']}] obtained no token")
                body = token_submission(tokens[spend["issued"]][0], [H(o["mailboxes"][m])
                                        for m in spend["mailboxes"]], spend["expiry"], H(spend["body"]))
            else:
                body = H(step["body"])
            auth = authorization(step["auth"], seeds, step["method"], step["path"], body)
            status, answer = relay.send(step["method"], step["path"], auth, body)
            got = {"status": status}
            if status >= 400: got["label"] = answer.decode("utf-8", "replace").split(": ", 1)[0]
            assert got == want, (*where, got, want)
            if pending is not None and status == 200:
                try:
                    tokens[n] = tokens_issued(answer, pending)
                except Refused as e:
                    raise AssertionError((*where, "TokenIssued", str(e))) from None
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
    check_voprf_vectors()
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
    steps = v["inputs"]["steps"]
    issued, spent = sum("issue" in s for s in steps), sum("spend" in s for s in steps)
    print(f"{path.name}: {len(v['outputs']['answers'])} requests ({issued} token requests, {spent} "
          f"spends; RFC 9497 VOPRF checked on its vectors first) answered alike by "
          f"`missive relay` on {' and '.join(stores)}: ok")


if __name__ == "__main__":
    paths = [pathlib.Path(p) for p in sys.argv[1:]] or [
        HERE / "mailbox.json", HERE / "bodies.json", HERE / "refusals.json"]
    checks = {"bodies": check_bodies, "mailbox": check_mailbox, "refusals": check_script}
    for path in paths:
        checks[next(k for k in checks if path.name.startswith(k))](path)
