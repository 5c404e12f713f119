#!/usr/bin/env python3
"""Generates the scale cases of issue 7 (used by bench/scale.sh).

  scale.py trace N OUT      one trace of N spans, a single chain (each span the parent of the
                            next: the deepest possible trace), GenAI spans cycling through
                            invoke_agent / chat (with token usage) / execute_tool; 1000 spans per
                            JSON line
  scale.py attributes N OUT one span with N attributes (distinct keys, half of them indexed
                            legacy keys that rules group)
  scale.py files N DIR      N small files of one span each
"""
import os
import sys

TRACE = "0af7651916cd43dd8448eb211c80319c"
OPS = ["invoke_agent", "chat", "execute_tool"]


def span(i, parent):
    op = OPS[i % 3]
    attrs = [
        '{"key":"gen_ai.operation.name","value":{"stringValue":"%s"}}' % op,
        '{"key":"gen_ai.provider.name","value":{"stringValue":"openai"}}',
        '{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}}',
    ]
    if op == "chat":
        attrs.append('{"key":"gen_ai.usage.input_tokens","value":{"intValue":"10"}}')
    if op == "execute_tool":
        attrs.append('{"key":"gen_ai.tool.name","value":{"stringValue":"search"}}')
    parent_field = ',"parentSpanId":"%016x"' % parent if parent else ""
    return (
        '{"traceId":"%s","spanId":"%016x"%s,"name":"%s gpt-4o","kind":3,'
        '"startTimeUnixNano":"1","endTimeUnixNano":"2","attributes":[%s]}'
        % (TRACE, i + 1, parent_field, op, ",".join(attrs))
    )


def doc(spans):
    return '{"resourceSpans":[{"scopeSpans":[{"spans":[%s]}]}]}\n' % ",".join(spans)


def trace(n, out):
    with open(out, "w") as f:
        for start in range(0, n, 1000):
            f.write(doc(span(i, i if i else None) for i in range(start, min(n, start + 1000))))


def attributes(n, out):
    attrs = []
    for i in range(n):
        key = "gen_ai.prompt.%d.content" % i if i % 2 else "custom.key_%d" % i
        attrs.append('{"key":"%s","value":{"intValue":"%d"}}' % (key, i))
    s = (
        '{"traceId":"%s","spanId":"%016x","name":"chat gpt-4o","kind":3,"attributes":['
        '{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},%s]}'
        % (TRACE, 1, ",".join(attrs))
    )
    with open(out, "w") as f:
        f.write(doc([s]))


def files(n, out):
    os.makedirs(out, exist_ok=True)
    for i in range(n):
        with open(os.path.join(out, "%06d.jsonl" % i), "w") as f:
            f.write(doc([span(i, None).replace(TRACE, "%032x" % (i + 1))]))


if __name__ == "__main__":
    kind, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    {"trace": trace, "attributes": attributes, "files": files}[kind](n, out)
