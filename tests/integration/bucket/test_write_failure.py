"""A server dying or hanging during a streaming upload: the writer gets an
error within the bound, the daemon survives, no object appears and the
multipart upload is aborted once the server is back.

These tests use a server of their own (private_s3), asked for before `mount`
so that the mount is torn down first."""

import subprocess
import time

import pytest

from conftest import C_LOCALE_ENV, MiB, run, wait_for, write_random_file

pytestmark = pytest.mark.mock_only("stops or kills a server of its own, and watches its access log for the "
                                   "first part")

# -o timeout=; also the bound of each healthy 16 MiB part before the fault,
# which a loaded machine must meet.
TIMEOUT_S = 15
FAIL_BOUND_S = 60  # the writer must have failed within this
CLEANUP_BOUND_S = 60  # the upload must be aborted within this of the server's return
KEY = "big.bin"


@pytest.fixture
def big_local(tmp_path):
    path = write_random_file(tmp_path / "200m.bin", 200 * MiB + 5)
    yield path
    path.unlink(missing_ok=True)


def mount_for_failure(mount, s3, bucket):
    # Any error line: the failed parts, the failed upload and the aborts
    # retried in the background are all logged as errors.
    return mount(f"s3://{bucket}", f"timeout={TIMEOUT_S}", "retries=1", server=s3, expect_errors=(r".",))


def start_cp_until_a_part_is_stored(s3, m, bucket, local):
    """Start `cp LOCAL MNT/KEY` and return it once the server has stored one
    part of its multipart upload."""
    mark = s3.log_mark()
    cp = subprocess.Popen(["cp", str(local), str(m / KEY)], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=C_LOCALE_ENV)

    def part_stored():
        if cp.poll() is not None:
            pytest.fail(f"cp ended ({cp.returncode}) before the server failed: {cp.stderr.read()}")
        return bool(s3.uploaded_parts(bucket, KEY, mark))

    try:
        wait_for(part_stored, 30, "no UploadPart reached the server while cp was writing")
    except BaseException:
        cp.kill()
        cp.wait()
        raise
    return cp


def assert_cp_fails_in_bound(cp):
    t0 = time.monotonic()
    try:
        _out, err = cp.communicate(timeout=FAIL_BOUND_S)
    except subprocess.TimeoutExpired:
        cp.kill()
        cp.communicate()
        pytest.fail(f"cp still running {FAIL_BOUND_S} s after the server failed")
    assert cp.returncode != 0, f"cp succeeded after {time.monotonic() - t0:.1f} s against a failed server"
    return err


def assert_daemon_alive(m):
    assert m.proc.poll() is None, f"odofs exited ({m.proc.returncode}):\n{m.log()[-4000:]}"
    cp = run(["ls", m], timeout=TIMEOUT_S * 4 + 10, check=False, env=C_LOCALE_ENV)
    assert "Transport endpoint is not connected" not in cp.stderr, "the daemon is gone"
    return cp


def assert_no_object_and_upload_aborted(s3, bucket):
    def clean():
        assert s3.head(bucket, KEY) is None, "a partial object appeared"
        return not s3.client.list_multipart_uploads(Bucket=bucket).get("Uploads")

    wait_for(clean, CLEANUP_BOUND_S, "the failed multipart upload was not aborted", interval=1)
    assert s3.list_objects(bucket) == {}


def test_killed_server_fails_cp_and_upload_is_aborted(private_s3, mount, big_local):
    s3 = private_s3
    bucket = s3.make_bucket()
    m = mount_for_failure(mount, s3, bucket)
    cp = start_cp_until_a_part_is_stored(s3, m, bucket, big_local)
    port = s3.port
    s3.kill()
    try:
        assert_cp_fails_in_bound(cp)
        assert_daemon_alive(m)
    finally:
        s3.start(port=port)
    assert assert_daemon_alive(m).returncode == 0
    assert_no_object_and_upload_aborted(s3, bucket)


def test_stopped_server_fails_cp_and_upload_is_aborted(private_s3, mount, big_local):
    s3 = private_s3
    bucket = s3.make_bucket()
    m = mount_for_failure(mount, s3, bucket)
    cp = start_cp_until_a_part_is_stored(s3, m, bucket, big_local)
    s3.pause()  # kill -STOP: connections are accepted, nothing is answered
    try:
        assert_cp_fails_in_bound(cp)
        assert m.proc.poll() is None, f"odofs exited ({m.proc.returncode})"
    finally:
        s3.resume()
    assert assert_daemon_alive(m).returncode == 0
    assert_no_object_and_upload_aborted(s3, bucket)
