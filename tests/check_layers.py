#!/usr/bin/env python3
"""The layer rule, checked on the source text (README "Architecture").

src/parse < src/io < src/upstream < src/pipeline < src/dialect < interview.c:
a file may include headers of its own layer and the layers below it, never
above. Besides: no dialect includes an mbedTLS header (crypto and TLS live
below it), and only interview.c reads the environment (getenv). Prints each
rule it checks and every offending line; exit 1 when there is one."""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
ORDER = ["parse", "io", "upstream", "pipeline", "dialect"]
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
GETENV = re.compile(r"\b(secure_)?getenv\s*\(")


def layer_of(path):
    rel = path.relative_to(ROOT / "src").parts
    return rel[0] if rel[0] in ORDER else None


def code_lines(text):
    """Lines with comments blanked out (a comment may mention getenv)."""
    text = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, flags=re.S)
    return [re.sub(r"//.*", "", line) for line in text.split("\n")]


def main():
    bad = []
    files = sorted(p for p in (ROOT / "src").rglob("*") if p.suffix in (".c", ".h"))
    print("rule: a file includes headers of its own layer or below: " + " < ".join(ORDER) + " < interview.c")
    print("rule: no file in src/dialect includes an upstream or mbedTLS header (dialects call the pipeline)")
    print("rule: only interview.c calls getenv")
    for path in files:
        mine = layer_of(path)
        if mine is None:
            bad.append(f"{path.relative_to(ROOT)}: not inside a layer folder ({', '.join(ORDER)})")
            continue
        for no, line in enumerate(code_lines(path.read_text()), 1):
            m = INCLUDE.match(line)
            if m and m.group(1) == '"':
                target = m.group(2).split("/")[0]
                if "/" not in m.group(2) or target not in ORDER:
                    bad.append(f"{path.relative_to(ROOT)}:{no}: {line.strip()}  (name the header's layer: \"io/log.h\")")
                elif ORDER.index(target) > ORDER.index(mine):
                    bad.append(f"{path.relative_to(ROOT)}:{no}: {line.strip()}  ({mine} may not include {target})")
            if m and mine == "dialect" and m.group(2).startswith(("mbedtls/", "psa/", "upstream/")):
                bad.append(f"{path.relative_to(ROOT)}:{no}: {line.strip()}  (dialects reach TLS, crypto and the API through the layers between)")
            if GETENV.search(line):
                bad.append(f"{path.relative_to(ROOT)}:{no}: {line.strip()}  (only interview.c reads the environment)")
    for line in bad:
        print("FAIL " + line)
    print(f"layers: {len(files)} files checked, {len(bad)} offending lines")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
