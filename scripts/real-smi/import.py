#!/usr/bin/env python3
"""Turn a recording of record.sh into the goldens of crates/migctl/tests/real_smi.rs.

usage: import.py RECORDING_DIR STATES_DIR GOLDEN_DIR

For each simulated machine M of the recording (a folder with cases.txt):
GOLDEN_DIR/M.json (its state file, from STATES_DIR) and GOLDEN_DIR/M.txt, one
block per command, in the order recorded:

    ## NAME | exit N | ARGS[ | no newline]
    what the real nvidia-smi printed on stdout
    #> stderr
    what it printed on stderr (this part only when it printed any)

A block whose stdout (or stderr) lacks a final newline says `| no newline`
(`| no newline on stderr`) and gets one added. Only what the real nvidia-smi
printed over the fake library is kept: not migctl's side of the recording,
not the call logs, not the real board's own views. Machines and cases no
longer recorded are removed from GOLDEN_DIR, so a new recording replaces the
old one whole.
"""
import os
import shutil
import sys


def read(path):
    with open(path, "rb") as f:
        return f.read().decode()


def main():
    rec, states, gold = sys.argv[1:4]
    os.makedirs(gold, exist_ok=True)
    machines = []
    for m in sorted(os.listdir(rec)):
        d = os.path.join(rec, m)
        if not os.path.isfile(os.path.join(d, "cases.txt")):
            continue
        machines.append(m)
        shutil.copy(os.path.join(states, m + ".json"), os.path.join(gold, m + ".json"))
        out = []
        for line in open(os.path.join(d, "cases.txt")):
            name, _, args = line.rstrip("\n").partition("\t")
            stdout = read(os.path.join(d, "smi", name + ".out"))
            stderr = read(os.path.join(d, "smi", name + ".err"))
            rc = read(os.path.join(d, "smi", name + ".rc")).strip()
            for text in (stdout, stderr):
                bad = [l for l in text.splitlines() if l.startswith(("## ", "#> "))]
                assert not bad, (m, name, bad)
            head = f"## {name} | exit {rc} | {args}"
            if stdout and not stdout.endswith("\n"):
                head += " | no newline"
                stdout += "\n"
            block = head + "\n" + stdout
            if stderr:
                mark = "#> stderr"
                if not stderr.endswith("\n"):
                    mark += " | no newline"
                    stderr += "\n"
                block += mark + "\n" + stderr
            out.append(block)
        with open(os.path.join(gold, m + ".txt"), "w") as f:
            f.write("".join(out))
        print(m, len(out), "cases")
    for f in sorted(os.listdir(gold)):
        stem, ext = os.path.splitext(f)
        if ext in (".json", ".txt") and stem not in machines:
            os.remove(os.path.join(gold, f))
            print("removed", f)


if __name__ == "__main__":
    main()
