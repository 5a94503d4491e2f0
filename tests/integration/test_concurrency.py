"""Many operations at once on one mount: readers, listers, writers, renames
and unlinks of open files, pwrite from two threads on one descriptor.
Every byte read must be right and nothing may fail; run against the TSan
build (check.sh), these are also what shows a data race or a lock-order
inversion between the daemon's threads."""

import os
import random
import threading
import time

from conftest import MiB, run

RUN_S = 6  # how long each worker keeps going


def run_workers(jobs):
    """Run (fn, arg) pairs in threads until they return; return the
    exceptions they raised, as text."""
    errors = []

    def guarded(fn, arg):
        try:
            fn(arg)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"{fn.__name__}({arg}): {e!r}")

    threads = [threading.Thread(target=guarded, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=RUN_S + 120)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    return errors


def test_s3_readers_writers_and_renames_at_once(mount, s3, bucket):
    data = os.urandom(12 * MiB + 77)
    s3.put(bucket, "r/big.bin", data)
    for i in range(12):
        s3.put(bucket, f"d{i % 3}/f{i}.txt", f"file {i}\n".encode())
    # cache_ttl=1: listings and attributes expire while the others run
    m = mount(f"s3://{bucket}", "cache_ttl=1")
    os.mkdir(m / "w")
    stop = time.monotonic() + RUN_S

    def reader(seed):
        rnd = random.Random(seed)
        with open(m / "r" / "big.bin", "rb") as f:
            while time.monotonic() < stop:
                if rnd.random() < 0.2:
                    f.seek(0)
                    assert f.read() == data, "whole read differs"
                else:
                    off = rnd.randrange(len(data))
                    n = rnd.randrange(1, 2 * MiB)
                    f.seek(off)
                    assert f.read(n) == data[off:off + n], f"range {off}+{n} differs"

    def lister(_):
        while time.monotonic() < stop:
            for d in ("d0", "d1", "d2", "w", ""):
                for name in os.listdir(m / d):
                    try:
                        os.stat(m / d / name)
                    except FileNotFoundError:
                        pass  # a writer's file, renamed or removed meanwhile

    def writer(seed):
        rnd = random.Random(seed)
        i = 0
        while time.monotonic() < stop:
            path = m / "w" / f"s{seed}-{i}.bin"
            blob = os.urandom(rnd.choice([100, 70000, 9 * MiB + 3]))  # one PUT or multipart
            with open(path, "wb") as f:
                for k in range(0, len(blob), MiB):
                    f.write(blob[k:k + MiB])
                    f.flush()
                    assert os.fstat(f.fileno()).st_size == min(len(blob), k + MiB)
                    if rnd.random() < 0.2:
                        os.fsync(f.fileno())
            assert s3.get(bucket, f"w/{path.name}") == blob
            if rnd.random() < 0.5:
                os.rename(path, f"{path}.mv")
                path = f"{path}.mv"
            os.unlink(path)
            i += 1

    def renamed_while_open(seed):
        i = 0
        while time.monotonic() < stop:
            path = m / f"ow{seed}-{i}.txt"
            moved = m / f"ow{seed}-{i}.moved"
            with open(path, "wb") as f:
                f.write(b"a" * 100000)
                f.flush()
                os.rename(path, moved)
                f.write(b"b" * 1000)
            assert s3.get(bucket, moved.name) == b"a" * 100000 + b"b" * 1000
            with open(moved, "r+b") as f:  # a spool, written by two threads
                def pwrite(off):
                    for k in range(20):
                        os.pwrite(f.fileno(), b"Z" * 100, off + k * 100)
                two = [threading.Thread(target=pwrite, args=(off,)) for off in (0, 50000)]
                for t in two:
                    t.start()
                for t in two:
                    t.join()
            got = s3.get(bucket, moved.name)
            assert got[:2000] == b"Z" * 2000 and got[50000:52000] == b"Z" * 2000
            assert got[2000:50000] == b"a" * 48000 and len(got) == 101000
            os.unlink(moved)
            i += 1

    def unlinked_while_open(seed):
        i = 0
        while time.monotonic() < stop:
            path = m / f"ul{seed}-{i}.txt"
            with open(path, "wb") as f:
                f.write(b"x" * 5000)
                f.flush()
                os.unlink(path)
                f.write(b"y")
            assert not path.exists()
            i += 1

    errors = run_workers([(reader, 1), (reader, 2), (lister, 0), (writer, 1), (writer, 2),
                          (renamed_while_open, 1), (unlinked_while_open, 1)])
    assert not errors, "\n".join(errors)
    assert sorted(os.listdir(m / "w")) == []
    assert set(s3.list_objects(bucket)) == {"r/big.bin", "w/"} | {f"d{i % 3}/f{i}.txt" for i in range(12)}


def test_postgresql_readers_loads_and_listings_at_once(mount, pg, pg_schema, tmp_path):
    sch = pg_schema
    pg.psql(f'CREATE TABLE "{sch}".big AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 20000) g;'
            + "".join(f'CREATE TABLE "{sch}".t{i} (id int, v text);' for i in range(3)))
    m = mount(pg.url)
    want = (m / sch / "big.csv").read_bytes()
    assert want.count(b"\n") == 20001
    stop = time.monotonic() + RUN_S
    loaded = [0, 0, 0]

    def reader(_):
        while time.monotonic() < stop:
            assert (m / sch / "big.csv").read_bytes() == want

    def lister(_):
        while time.monotonic() < stop:
            assert sch in os.listdir(m)
            for name in os.listdir(m / sch):
                os.stat(m / sch / name)

    def loader(i):
        k = 0
        while time.monotonic() < stop:
            src = tmp_path / f"l{i}-{k}.csv"
            src.write_text("v,id\n" + "".join(f"x{j},{j}\n" for j in range(50)))
            run(["cp", src, m / sch / f"t{i}" / ""], timeout=60)
            loaded[i] += 50
            lines = (m / sch / f"t{i}.csv").read_bytes().splitlines()
            assert len(lines) == 1 + loaded[i]
            k += 1

    errors = run_workers([(reader, 0), (reader, 1), (lister, 0), (loader, 0), (loader, 1), (loader, 2)])
    assert not errors, "\n".join(errors)
    for i in range(3):
        assert pg.psql(f'SELECT count(*) FROM "{sch}".t{i}').strip() == str(loaded[i])
