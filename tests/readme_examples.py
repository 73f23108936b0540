#!/usr/bin/env python3
"""Runs the README's lock example exactly as printed, against a real mount.

Then its give-way example (the python block starting `#!/usr/bin/python3` in "Giving way"):
it holds a node until a waiter through the mount arrives, says who, and lets go; the waiter must
get the lock within a few seconds.

The console block of "Locking by opening" (the one that starts with `# exec 9>`) is taken from
README.md: each `# ` line is a command, the lines after it are what it prints. The commands run
in one bash, in order, with only the paths changed (/run/pbs-locks -> a scratch mount,
/run/proxmox-backup/locks -> a scratch lock root); what they print must match, except for the
values that differ from run to run (pid=, since=).

Usage: readme_examples.py README.md PATH/TO/pbs-lockfs
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

MOUNT, LOCK_ROOT = "/run/pbs-locks", "/run/proxmox-backup/locks"
MARK = "@@readme-example-done@@"


def readme_block(readme, heading, language, start):
    """The first ```LANGUAGE block after HEADING that starts with START."""
    section = readme.split(heading, 1)[1]
    for block in re.findall(rf"```{language}\n(.*?)```", section, re.S):
        if block.startswith(start):
            return block
    raise SystemExit(f"no {language} block starting with '{start}' in '{heading}'")


def example_block(readme):
    return readme_block(readme, "## Locking by opening", "console", "# exec 9>")


def give_way_example(readme):
    return readme_block(readme, "### Giving way", "python", "#!/usr/bin/python3")


def run_give_way(readme, mnt, scratch):
    """True when the give-way holder let go for a waiter within seconds and said who it was."""
    script = os.path.join(scratch, "give-way.py")
    with open(script, "w") as f:
        f.write(give_way_example(readme))
    node = os.path.join(mnt, "store1/vm/100/2024-01-01T00:00:00Z")
    holder = subprocess.Popen([sys.executable, script, node], stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)  # it holds the lock and polls
    waiter = subprocess.Popen([sys.executable, "-c",
                               f"import os; os.open({node!r}, os.O_RDONLY); print('got it')"],
                              stdout=subprocess.PIPE, text=True)
    try:
        said, _ = holder.communicate(timeout=5)
        got, _ = waiter.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        holder.kill()
        waiter.kill()
        print("FAIL give-way: nobody gave way within 5 s")
        return False
    ok = (said.startswith("wanted: a wait (shared, through the mount, pid ")
          and said.endswith("gave way\n") and got == "got it\n")
    print(f"{'ok  ' if ok else 'FAIL'} give-way example: {said!r} {got!r}")
    return ok


def steps(block):
    out = []
    for line in block.splitlines():
        if line.startswith("# "):
            out.append((line[2:], []))
        elif out:
            out[-1][1].append(line)
    return out


def varying(line):
    """A pattern for an expected line: pids and times may differ."""
    pattern = re.escape(line)
    pattern = re.sub(r"pid=\d+", r"pid=\\d+", pattern)
    pattern = re.sub(r"since=[0-9T:\\-]+Z", r"since=[0-9T:-]+Z", pattern)
    return "^" + pattern + "$"


def main():
    readme_path, daemon = sys.argv[1], sys.argv[2]
    block = example_block(open(readme_path, encoding="utf-8").read())
    scratch = tempfile.mkdtemp(prefix="pbs-lockfs-readme.")
    os.chmod(scratch, 0o755)
    mnt, locks = os.path.join(scratch, "mnt"), os.path.join(scratch, "locks")
    store = os.path.join(scratch, "store1")
    os.makedirs(os.path.join(store, "vm/100/2024-01-01T00:00:00Z"))
    os.makedirs(mnt)
    log = open(os.path.join(scratch, "daemon.log"), "w")
    monitor = subprocess.Popen(
        [daemon, "-f", "-o", f"store=store1:{store},lock_root={locks}", mnt],
        stdout=log, stderr=subprocess.STDOUT)
    failures = []
    try:
        for _ in range(500):
            if os.path.ismount(mnt):
                break
            time.sleep(0.01)
        else:
            raise SystemExit("the daemon did not mount")
        shell = subprocess.Popen(["bash"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, cwd=scratch)
        for command, expected in steps(block):
            run = command.replace(MOUNT, mnt).replace(LOCK_ROOT, locks)
            shell.stdin.write(run + f"\necho {MARK}\n")
            shell.stdin.flush()
            printed = []
            for line in shell.stdout:
                if line.rstrip("\n") == MARK:
                    break
                printed.append(line.rstrip("\n").replace(mnt, MOUNT).replace(locks, LOCK_ROOT))
            ok = len(printed) == len(expected) and all(
                re.match(varying(e), p) for e, p in zip(expected, printed))
            print(f"{'ok  ' if ok else 'FAIL'} # {command}")
            if not ok:
                failures.append((command, expected, printed))
        shell.stdin.close()
        shell.wait(timeout=10)
        if not run_give_way(open(readme_path, encoding="utf-8").read(), mnt, scratch):
            failures.append(("give-way example", [], []))
    finally:
        monitor.terminate()
        try:
            monitor.wait(timeout=10)
        except subprocess.TimeoutExpired:
            monitor.kill()
            subprocess.run(["umount", "-l", mnt], check=False)
        shutil.rmtree(scratch, ignore_errors=True)
    for command, expected, printed in failures:
        print(f"\n# {command}\nexpected:\n  " + "\n  ".join(expected) +
              "\nprinted:\n  " + "\n  ".join(printed))
    print(f"{len(steps(block)) - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
