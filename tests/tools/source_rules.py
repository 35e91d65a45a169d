#!/usr/bin/env python3
"""Checks the rules of the developers' guide and issue #5 that a compiler does not:

  1. engine/ and kernels/ never end the process: no exit, _Exit, quick_exit, abort or std::terminate
     calls (errors are engine::Error; the CLI's main and the app decide what to do);
  2. engine/ includes no Qt and no CUDA header (the engine builds and runs without either);
  3. every kernel launch in kernels/*.cu is checked: a CUDA_CHECK_LAUNCH() follows it before the next
     launch, `return` or the end of the function (a switch or if/else of launches may share one check).

  source_rules.py ROOT      exits 1 listing every violation as file:line: rule.
Comments and string literals are blanked before matching, so prose about exit() does not count.
"""
import pathlib
import re
import sys


def strip_comments_and_strings(text):
    """The text with // and /* */ comments and "..." / '...' literals replaced by spaces (lines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1:j]) + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def line_of(text, pos):
    return text.count("\n", 0, pos) + 1


def main(root):
    root = pathlib.Path(root)
    errors = []
    sources = [p for d in ("engine", "kernels") for p in sorted((root / d).rglob("*"))
               if p.suffix in (".cpp", ".h", ".cu", ".cuh")]
    ending = re.compile(r"(?<![\w.>:])(?:std::)?(exit|_Exit|quick_exit|abort|terminate)\s*\(")
    for p in sources:
        code = strip_comments_and_strings(p.read_text(encoding="utf-8"))
        rel = p.relative_to(root)
        for m in ending.finditer(code):
            errors.append(f"{rel}:{line_of(code, m.start())}: calls {m.group(1)}() (rule 1: throw engine::Error)")
        if rel.parts[0] == "engine":
            raw = p.read_text(encoding="utf-8")
            for m in re.finditer(r'^\s*#\s*include\s*[<"]((Q\w*|cuda\w*|cublas\w*|cuda_\w+)(\.h)?)[>"]', raw, re.M):
                errors.append(f"{rel}:{line_of(raw, m.start())}: includes {m.group(1)} (rule 2: no Qt/CUDA in engine/)")
    launches = 0
    for p in sorted((root / "kernels").glob("*.cu")):
        code = strip_comments_and_strings(p.read_text(encoding="utf-8"))
        rel = p.relative_to(root)
        for m in re.finditer(r"<<<", code):
            launches += 1
            end = code.find(";", m.end())
            rest = code[end:]
            # The check must come before the next launch, return, or closing brace at column 0 (function end).
            stops = [s.start() for s in (re.search(r"<<<", rest), re.search(r"\breturn\b", rest),
                                         re.search(r"\n}", rest)) if s]
            limit = min(stops) if stops else len(rest)
            check = rest.find("CUDA_CHECK_LAUNCH")
            if check < 0 or check > limit:
                # a chain of alternatives (switch cases / if-else) checked once after the last of them
                nxt = re.search(r"<<<", rest)
                between = rest[:nxt.start()] if nxt else ""
                alternative = nxt and ("case" in between or "else" in between) and "return" not in between
                if not alternative:
                    errors.append(f"{rel}:{line_of(code, m.start())}: kernel launch without CUDA_CHECK_LAUNCH() "
                                  "after it (rule 3)")
    if launches == 0:
        errors.append("kernels/: no kernel launches found; the launch rule checked nothing")
    for e in errors:
        print(e)
    print(f"source rules: {len(sources)} engine/kernels files, {launches} kernel launches, {len(errors)} violations")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[2]))
