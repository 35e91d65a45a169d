#!/usr/bin/env python3
"""Render the chat-template test cases with Python Jinja2 configured exactly like transformers.

transformers' _compile_jinja_template (4.4x-5.x): ImmutableSandboxedEnvironment(trim_blocks=True,
lstrip_blocks=True, extensions=[generation tag, loopcontrols]), tojson = json.dumps(ensure_ascii=False,
...), globals raise_exception and strftime_now. strftime_now uses a FIXED instant (conversations.json
"fixed_now", formatted as UTC) so the expected outputs are reproducible; the C++ side injects the same.

Context per case, as apply_chat_template builds it: messages, tools (None unless given), documents=None,
add_generation_prompt, the template's special tokens, then the conversation's "extra" keywords.

Usage: /usr/bin/python3 tests/tools/render_templates.py [--data tests/data/templates] [--out FILE]
Writes {"cases": [...], "snippets": [...]} with "output" or "error" for each (default: DATA/expected.json).
"""
import argparse
import json
import os
import sys
from datetime import datetime, timezone

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


class GenerationTracker(Extension):
    """{% generation %}...{% endgeneration %}: rendered transparently (transformers' AssistantTracker)."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    def _generation_support(self, caller):
        return caller()


def make_env(fixed_now):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.fromtimestamp(fixed_now, tz=timezone.utc).replace(tzinfo=None).strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTracker, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(env, source, context):
    try:
        return {"output": env.from_string(source).render(**context)}
    except Exception as e:  # noqa: BLE001 - any failure is an expected error case
        return {"error": f"{type(e).__name__}: {e}"}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(here, "..", "data", "templates"))
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    with open(os.path.join(args.data, "templates.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    with open(os.path.join(args.data, "conversations.json"), encoding="utf-8") as f:
        convs = json.load(f)
    with open(os.path.join(args.data, "snippets.json"), encoding="utf-8") as f:
        snippets = json.load(f)
    env = make_env(convs["fixed_now"])

    cases = []
    for tname, tinfo in manifest["templates"].items():
        with open(os.path.join(args.data, tinfo["file"]), encoding="utf-8", newline="") as f:
            source = f.read()
        for conv in convs["conversations"]:
            for agp in (False, True):
                context = {"messages": conv["messages"], "tools": conv.get("tools"), "documents": None,
                           "add_generation_prompt": agp}
                context.update(tinfo.get("special_tokens", {}))
                context.update(conv.get("extra", {}))
                case = {"id": f"{tname}/{conv['name']}/agp={int(agp)}", "template": tname,
                        "conversation": conv["name"], "add_generation_prompt": agp}
                case.update(render(env, source, context))
                cases.append(case)
    snips = []
    for s in snippets["snippets"]:
        r = {"name": s["name"]}
        r.update(render(env, s["template"], s.get("context", {})))
        snips.append(r)

    out = args.out or os.path.join(args.data, "expected.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"jinja2_version": jinja2.__version__, "cases": cases, "snippets": snips}, f,
                  ensure_ascii=False, indent=1)
        f.write("\n")
    errors = sum("error" in c for c in cases) + sum("error" in s for s in snips)
    print(f"{len(cases)} cases, {len(snips)} snippets ({errors} expected errors) -> {out}")


if __name__ == "__main__":
    sys.exit(main())
