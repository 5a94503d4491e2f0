#!/usr/bin/env python3
"""A reference-model test of odofs's POSIX behaviour.

The same random sequence of file operations runs on a local folder (the
reference) and on a folder of an odofs mount; after every step the results
(return value or errno, bytes read, attributes odofs keeps) and then the two
trees (names, types, sizes, modes, link targets, and every closed file's
bytes) must be equal. The first difference stops the run with the seed and
the step, so `--seed S --ops N` replays it.

Where odofs differs on purpose, the model does not go (each one is named in
tests/posix/README.md and odofs(8)):
  - several descriptors on one path are separate files in odofs (the last
    close wins): the model keeps at most one descriptor per path;
  - a folder implied only by keys vanishes with its last key: every folder
    the model makes comes from mkdir, which leaves a marker;
  - renaming a folder leaves its open files under their old names: the
    model renames no folder holding an open file;
  - fstat of a folder removed (rmdir) while open answers ESTALE
    (libfuse has no path for it any more): the model does not fstat one;
  - hard links (ENOTSUP), atime, ctime and mtime (odofs keeps seconds, set
    at close for a file written): not compared.

Usage (soak, on a mount you made):
  python3 tests/posix/model.py --mount MNT [--seed S] [--ops N]
The integration suite runs it with fixed seeds
(tests/integration/bucket/test_posix_model.py).
"""

import argparse
import errno
import os
import random
import shutil
import stat
import sys
import tempfile

NAMES = ["a", "b", "c.txt"]
DIRS = ["d", "e"]
MAX_SIZE = 48 * 1024  # within a stream's first part: nothing leaves early

OPEN_ACCESS = [os.O_RDONLY, os.O_WRONLY, os.O_RDWR]
OPEN_EXTRA = [0, os.O_CREAT, os.O_CREAT | os.O_EXCL, os.O_TRUNC, os.O_APPEND,
              os.O_CREAT | os.O_TRUNC, os.O_CREAT | os.O_APPEND]


class Divergence(AssertionError):
    pass


def is_fifo(path):
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


def outcome(fn, *args):
    """('ok', value) or ('err', errno name)."""
    try:
        return ("ok", fn(*args))
    except OSError as e:
        return ("err", errno.errorcode.get(e.errno, str(e.errno)))


class Side:
    """One root the operations run on, with its open descriptors."""

    def __init__(self, root):
        self.root = root
        self.fds = {}  # model id -> fd

    def p(self, rel):
        return os.path.join(self.root, rel)


class Model:
    def __init__(self, local, mount, seed, log=None):
        self.rng = random.Random(seed)
        self.seed = seed
        self.sides = [Side(local), Side(mount)]
        self.open = {}  # model id -> (rel path, flags); at most one per path
        self.unlinked = set()  # ids whose path was unlinked while open
        self.removed_dirs = set()  # ids of folders removed while open
        self.next_id = 0
        self.step = 0
        self.ops = 0
        self.log = log

    # ---- the namespace ----

    def rel_names(self):
        out = list(NAMES)
        for d in DIRS:
            out.append(d)
            out += [f"{d}/{n}" for n in NAMES[:2]]
            out.append(f"{d}/{DIRS[0]}")
        return out

    def pick(self):
        return self.rng.choice(self.rel_names())

    def real(self, rel):
        """rel with every symlink resolved, as the local side sees it: one
        file however it is named."""
        root = self.sides[0].root
        return os.path.relpath(os.path.realpath(os.path.join(root, rel)), os.path.realpath(root))

    def open_paths(self):
        return {path for i, (path, _f) in self.open.items() if i not in self.unlinked}

    def is_open(self, rel):
        return self.real(rel) in self.open_paths()

    def holds_open(self, rel):
        real = self.real(rel)
        return any(p == real or p.startswith(real + "/") for p in self.open_paths())

    # ---- running one operation on both sides ----

    def both(self, what, fn):
        got = [outcome(fn, side) for side in self.sides]
        self.ops += 1
        if self.log:
            self.log(f"step {self.step}: {what} -> {str(got[0])[:80]}")
        if got[0] != got[1]:
            raise Divergence(f"seed {self.seed} step {self.step}: {what}: local {got[0]}, odofs {got[1]}")
        return got[0]

    def op_open(self):
        rel = self.pick()
        if self.is_open(rel) or is_fifo(self.sides[0].p(rel)):
            return  # one descriptor per file; a FIFO's open would wait
        flags = self.rng.choice(OPEN_ACCESS) | self.rng.choice(OPEN_EXTRA)
        mode = self.rng.choice([0o644, 0o600, 0o755])
        ident = self.next_id
        kind, _v = self.both(f"open({rel!r}, {flags:#o}, {mode:#o})",
                             lambda s: s.fds.__setitem__(ident, os.open(s.p(rel), flags, mode)))
        if kind == "ok":
            self.next_id += 1
            self.open[ident] = (self.real(rel), flags)

    def pick_fd(self):
        return self.rng.choice(sorted(self.open)) if self.open else None

    def op_close(self):
        i = self.pick_fd()
        if i is None:
            return
        rel, _flags = self.open.pop(i)
        self.unlinked.discard(i)
        self.removed_dirs.discard(i)
        self.both(f"close({rel!r})", lambda s: os.close(s.fds.pop(i)))

    def op_write(self):
        i = self.pick_fd()
        if i is None:
            return
        rel, flags = self.open[i]
        data = self.rng.randbytes(self.rng.choice([1, 100, 4096, 10000]))
        if self.rng.random() < 0.5:
            self.both(f"write({rel!r}, {len(data)})", lambda s: os.write(s.fds[i], data))
        else:
            off = self.rng.randrange(0, MAX_SIZE - len(data))
            self.both(f"pwrite({rel!r}, {len(data)}, {off})", lambda s: os.pwrite(s.fds[i], data, off))

    def op_read(self):
        i = self.pick_fd()
        if i is None:
            return
        rel, _flags = self.open[i]
        n, off = self.rng.choice([1, 512, 20000]), self.rng.randrange(0, MAX_SIZE)
        self.both(f"pread({rel!r}, {n}, {off})", lambda s: os.pread(s.fds[i], n, off))

    def op_lseek_read(self):
        i = self.pick_fd()
        if i is None:
            return
        rel, _flags = self.open[i]
        self.both(f"lseek+read({rel!r})",
                  lambda s: (os.lseek(s.fds[i], 0, os.SEEK_SET), os.read(s.fds[i], 1 << 16)))

    def op_ftruncate(self):
        i = self.pick_fd()
        if i is None:
            return
        rel, _flags = self.open[i]
        size = self.rng.randrange(0, MAX_SIZE)
        self.both(f"ftruncate({rel!r}, {size})", lambda s: os.ftruncate(s.fds[i], size))

    def op_fstat(self):
        i = self.pick_fd()
        if i is None:
            return
        if i in self.removed_dirs:
            return  # ESTALE on odofs, on purpose (see above)
        rel, _flags = self.open[i]
        self.both(f"fstat({rel!r})", lambda s: self.attrs(os.fstat(s.fds[i])))

    def op_truncate(self):
        rel = self.pick()
        if self.is_open(rel):
            return
        size = self.rng.randrange(0, MAX_SIZE)
        self.both(f"truncate({rel!r}, {size})", lambda s: os.truncate(s.p(rel), size))

    def op_unlink(self):
        rel = self.pick()
        real = self.real(rel) if not os.path.islink(self.sides[0].p(rel)) else None
        self.both(f"unlink({rel!r})", lambda s: os.unlink(s.p(rel)))
        if real and not os.path.lexists(self.sides[0].p(rel)):
            for i, (path, _f) in self.open.items():
                if path == real:
                    self.unlinked.add(i)

    def op_mkdir(self):
        rel = self.pick()
        self.both(f"mkdir({rel!r})", lambda s: os.mkdir(s.p(rel), 0o755))

    def op_rmdir(self):
        rel = self.pick()
        real = self.real(rel)
        kind, _v = self.both(f"rmdir({rel!r})", lambda s: os.rmdir(s.p(rel)))
        if kind == "ok":
            for i, (path, _f) in self.open.items():
                if path == real:
                    self.unlinked.add(i)
                    self.removed_dirs.add(i)

    def op_rename(self):
        a, b = self.pick(), self.pick()
        if self.holds_open(a) or self.holds_open(b):
            return
        self.both(f"rename({a!r}, {b!r})", lambda s: os.rename(s.p(a), s.p(b)))

    def op_chmod(self):
        rel = self.pick()
        mode = self.rng.choice([0o600, 0o644, 0o700, 0o755, 0o750])
        if self.is_open(rel) or os.path.islink(self.sides[0].p(rel)):
            return
        self.both(f"chmod({rel!r}, {mode:#o})", lambda s: os.chmod(s.p(rel), mode))

    def op_symlink(self):
        rel = self.pick()
        target = self.rng.choice(["a", "d/a", "e", "nowhere"])
        self.both(f"symlink({target!r}, {rel!r})", lambda s: os.symlink(target, s.p(rel)))

    def op_readlink(self):
        rel = self.pick()
        self.both(f"readlink({rel!r})", lambda s: os.readlink(s.p(rel)))

    def op_mkfifo(self):
        rel = self.pick()
        self.both(f"mkfifo({rel!r})", lambda s: os.mkfifo(s.p(rel), 0o640))

    def op_stat(self):
        rel = self.pick()
        self.both(f"lstat({rel!r})", lambda s: self.attrs(os.lstat(s.p(rel))))

    # ---- what is compared ----

    @staticmethod
    def attrs(st):
        mode = st.st_mode
        if stat.S_ISLNK(mode):
            mode = stat.S_IFLNK  # a link's own mode bits mean nothing
        return (stat.S_IFMT(mode), stat.S_IMODE(mode),
                st.st_size if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode) else 0)

    def tree(self, side, contents):
        out = {}
        def failed(e):  # os.walk would skip a folder it cannot list
            raise Divergence(f"seed {self.seed} step {self.step}: listing {e.filename!r} failed: {e}")

        for dirpath, dirnames, filenames in os.walk(side.root, onerror=failed):
            for name in dirnames + filenames:
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, side.root)
                st = os.lstat(full)
                entry = self.attrs(st)
                if stat.S_ISLNK(st.st_mode):
                    entry += (os.readlink(full),)
                elif stat.S_ISREG(st.st_mode) and contents and rel not in self.open_paths():
                    with open(full, "rb") as f:
                        entry += (f.read(),)
                out[rel] = entry
            dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
        return out

    def compare_trees(self, contents):
        local, mounted = (self.tree(s, contents) for s in self.sides)
        if local != mounted:
            diff = sorted(set(local) ^ set(mounted)) or \
                [k for k in sorted(local) if local[k] != mounted[k]]
            k = diff[0]
            a, b = local.get(k), mounted.get(k)
            if a and b and len(a) == len(b) == 4 and a[:3] == b[:3]:
                at = next(i for i in range(min(len(a[3]), len(b[3])) + 1) if a[3][i:i + 1] != b[3][i:i + 1])
                raise Divergence(f"seed {self.seed} step {self.step}: {k!r}: bytes differ from offset {at}: "
                                 f"local {len(a[3])} bytes {a[3][at:at + 16]!r}, odofs {len(b[3])} bytes "
                                 f"{b[3][at:at + 16]!r}")
            raise Divergence(f"seed {self.seed} step {self.step}: trees differ at {k!r}: "
                             f"local {str(a)[:200]}, odofs {str(b)[:200]}")

    OPS = [
        ("op_open", 14), ("op_close", 10), ("op_write", 14), ("op_read", 8), ("op_lseek_read", 3),
        ("op_ftruncate", 4), ("op_fstat", 5), ("op_truncate", 3), ("op_unlink", 6), ("op_mkdir", 5),
        ("op_rmdir", 3), ("op_rename", 6), ("op_chmod", 4), ("op_symlink", 3), ("op_readlink", 2),
        ("op_mkfifo", 2), ("op_stat", 8),
    ]

    def run(self, n_steps, contents_every=10):
        names = [n for n, _w in self.OPS]
        weights = [w for _n, w in self.OPS]
        try:
            for self.step in range(n_steps):
                getattr(self, self.rng.choices(names, weights)[0])()
                self.compare_trees(contents=self.step % contents_every == 0)
            for i in sorted(self.open):
                self.both("close at end", lambda s, i=i: os.close(s.fds.pop(i)))
            self.open.clear()
            self.compare_trees(contents=True)
        finally:
            for side in self.sides:
                for fd in side.fds.values():
                    try:
                        os.close(fd)
                    except OSError:
                        pass
                side.fds.clear()
        return self.ops


def clear(root):
    for name in os.listdir(root):
        full = os.path.join(root, name)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full)
        else:
            os.unlink(full)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mount", required=True, help="an empty folder of an odofs mount")
    ap.add_argument("--seed", type=int, default=None, help="default: random, printed")
    ap.add_argument("--ops", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("-v", action="store_true", help="print every step")
    args = ap.parse_args()
    rng = random.SystemRandom()
    total = 0
    for _ in range(args.runs):
        seed = args.seed if args.seed is not None else rng.randrange(1 << 32)
        print(f"seed {seed}", flush=True)
        with tempfile.TemporaryDirectory(prefix="odofs-model-") as local:
            os.makedirs(args.mount, exist_ok=True)
            clear(args.mount)
            try:
                total += Model(local, args.mount, seed, log=print if args.v else None).run(args.ops)
            except Divergence as e:
                print(f"DIVERGENCE: {e}\nreplay: {sys.argv[0]} --mount {args.mount} --seed {seed} "
                      f"--ops {args.ops}", file=sys.stderr)
                return 1
    print(f"{total} operations, no divergence")
    return 0


if __name__ == "__main__":
    sys.exit(main())
