#!/usr/bin/env python3
"""Turn a recording of record.sh into the goldens of crates/migctl/tests/real_smi.rs.

usage: import.py RECORDING_DIR STATES_DIR GOLDEN_DIR

For each simulated machine M: GOLDEN_DIR/M.json (its state file) and
GOLDEN_DIR/M.txt, one block per command: a line `## NAME | exit N | ARGS`,
then exactly what the real nvidia-smi printed on stdout (a block whose stdout
lacks a final newline says `| no newline` and gets one added).
"""
import os, shutil, sys

rec, states, gold = sys.argv[1:4]
os.makedirs(gold, exist_ok=True)
for m in sorted(os.listdir(rec)):
    d = os.path.join(rec, m)
    if not os.path.isfile(os.path.join(d, "cases.txt")):
        continue
    shutil.copy(os.path.join(states, m + ".json"), os.path.join(gold, m + ".json"))
    out = []
    for line in open(os.path.join(d, "cases.txt")):
        name, _, args = line.rstrip("\n").partition("\t")
        stdout = open(os.path.join(d, "smi", name + ".out"), "rb").read().decode()
        rc = open(os.path.join(d, "smi", name + ".rc")).read().strip()
        assert not any(l.startswith("## ") for l in stdout.splitlines()), (m, name)
        head = f"## {name} | exit {rc} | {args}"
        if stdout and not stdout.endswith("\n"):
            head += " | no newline"
            stdout += "\n"
        out.append(head + "\n" + stdout)
    open(os.path.join(gold, m + ".txt"), "w").write("".join(out))
    print(m, len(out), "cases")
