#!/usr/bin/env python3
"""Writes seed corpora for the fuzz targets from the repository's fixtures, into
fuzz/seeds/<target>/ (or the directory given as the first argument). Run from the repository
root; then `cargo fuzz run -s none TARGET fuzz/corpus/TARGET fuzz/seeds/TARGET`."""
import glob, gzip, os, subprocess, sys

out = sys.argv[1] if len(sys.argv) > 1 else "fuzz/seeds"


def put(target, name, data):
    os.makedirs(f"{out}/{target}", exist_ok=True)
    with open(f"{out}/{target}/{name}", "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


jsonl = sorted(glob.glob("fixtures/real/*.jsonl"))
pb = sorted(glob.glob("fixtures/real/*.pb"))
for f in jsonl + glob.glob("fixtures/input/*.json") + ["fixtures/input/two-lines.jsonl"]:
    put("json", os.path.basename(f), read(f))
for f in pb + ["fixtures/input/stream.binpb"]:
    put("proto_message", os.path.basename(f), read(f))
# proto_stream splits its input on 0xff into messages.
for a, b in zip(pb[::2], pb[1::2]):
    put("proto_stream", os.path.basename(a), read(a) + b"\xff" + read(b))
for f in glob.glob("fixtures/input/*.zst") + glob.glob("fixtures/input/*.gz"):
    put("compressed", os.path.basename(f), read(f))
for f in jsonl[:3] + pb[:3]:
    put("compressed", os.path.basename(f) + ".gz", gzip.compress(read(f)))
    zst = subprocess.run(["zstd", "-q", "-c", f], capture_output=True)
    if zst.returncode == 0:
        put("compressed", os.path.basename(f) + ".zst", zst.stdout)
# migrate: first byte even = JSON, odd = protobuf.
for f in jsonl:
    put("migrate", "json-" + os.path.basename(f), b"\x00" + read(f))
for f in pb:
    put("migrate", "proto-" + os.path.basename(f), b"\x01" + read(f))
put("rules_file", "genai.toml", read("rules/genai.toml"))
put("config", "redacted.toml", b'content-policy = "redacted"\n')
put("config", "full.toml", b'''content-policy = "allow"
allow-keys = ["gen_ai.myapp.*"]
expected-context = ["gen_ai.conversation.id", "enduser.id"]
extend-rules-file = "spanlint-rules.toml"

[rules.span-name-format]
severity = "off"

[[ignore]]
rule = "reserved-namespace"
span-name = "openai.*"
attribute = "gen_ai.openai.*"
reason = "set by the OpenLLMetry instrumentation"
''')
