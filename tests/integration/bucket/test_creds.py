"""Credentials: each source of the chain works, a wrong secret is refused
with EACCES (never an empty folder), anonymous access works."""

import os
import time

import pytest

from conftest import run


@pytest.fixture(scope="module")
def cred_bucket(s3):
    b = s3.make_bucket()
    s3.put(b, "secret/data.txt", b"only for the right key\n")
    s3.put(b, "top.txt", b"top\n")
    if s3.kind == "rgw":
        # s3rver answers unsigned requests as for a public bucket; on RGW the
        # bucket and its objects must be made public for the anonymous tests.
        s3.client.put_bucket_acl(Bucket=b, ACL="public-read")
        for key in ("secret/data.txt", "top.txt"):
            s3.client.put_object_acl(Bucket=b, Key=key, ACL="public-read")
    return b


def check_access(m):
    assert sorted(os.listdir(m)) == ["secret", "top.txt"]
    assert (m / "secret" / "data.txt").read_bytes() == b"only for the right key\n"


def wrong(secret):
    return secret[::-1] if secret[::-1] != secret else secret + "x"


def test_env(mount, s3, cred_bucket, tmp_path):
    check_access(mount(f"s3://{cred_bucket}", env=s3.env(tmp_path)))


def test_env_session_token_ignored_by_server(mount, s3, cred_bucket, tmp_path):
    # A session token is sent along (x-amz-security-token); s3rver does not
    # check it but must still accept the signature that covers it.
    env = s3.env(tmp_path)
    env["AWS_SESSION_TOKEN"] = "FQoGZXIvYXdzEXAMPLETOKEN"
    check_access(mount(f"s3://{cred_bucket}", env=env))


def test_shared_credentials_file_with_profile_option(mount, s3, cred_bucket, tmp_path):
    creds = tmp_path / "credentials"
    creds.write_text(
        "[default]\n"
        f"aws_access_key_id = {s3.key_id}\n"
        f"aws_secret_access_key = {wrong(s3.secret)}\n"
        "\n"
        "[odotest]\n"
        f"aws_access_key_id = {s3.key_id}\n"
        f"aws_secret_access_key = {s3.secret}\n"
    )
    env = s3.env(tmp_path, creds=False)
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(creds)
    check_access(mount(f"s3://{cred_bucket}", "profile=odotest", env=env))


def test_home_aws_credentials_default_profile(mount, s3, cred_bucket, tmp_path):
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text(
        f"[default]\naws_access_key_id={s3.key_id}\naws_secret_access_key={s3.secret}\n"
    )
    check_access(mount(f"s3://{cred_bucket}", env=s3.env(home, creds=False)))


def test_aws_profile_in_config_file(mount, s3, cred_bucket, tmp_path):
    config = tmp_path / "config"
    config.write_text(
        "[default]\n"
        "region = us-east-1\n"
        "\n"
        "[profile x]\n"
        "region = us-east-1\n"
        f"aws_access_key_id = {s3.key_id}\n"
        f"aws_secret_access_key = {s3.secret}\n"
    )
    env = s3.env(tmp_path, creds=False)
    env["AWS_CONFIG_FILE"] = str(config)
    env["AWS_PROFILE"] = "x"
    check_access(mount(f"s3://{cred_bucket}", env=env))


def test_boto_config(mount, s3, cred_bucket, tmp_path):
    boto = tmp_path / "boto.cfg"
    boto.write_text(
        "[Credentials]\n"
        f"aws_access_key_id = {s3.key_id}\n"
        f"aws_secret_access_key = {s3.secret}\n"
    )
    env = s3.env(tmp_path, creds=False)
    env["BOTO_CONFIG"] = str(boto)
    check_access(mount(f"s3://{cred_bucket}", env=env))


def test_env_comes_before_files(mount, s3, cred_bucket, tmp_path):
    creds = tmp_path / "credentials"
    creds.write_text(f"[default]\naws_access_key_id = {s3.key_id}\naws_secret_access_key = {wrong(s3.secret)}\n")
    boto = tmp_path / "boto.cfg"
    boto.write_text(f"[Credentials]\naws_access_key_id = {s3.key_id}\naws_secret_access_key = {wrong(s3.secret)}\n")
    env = s3.env(tmp_path)
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(creds)
    env["BOTO_CONFIG"] = str(boto)
    check_access(mount(f"s3://{cred_bucket}", env=env))


def test_shared_files_come_before_boto(mount, s3, cred_bucket, tmp_path):
    creds = tmp_path / "credentials"
    creds.write_text(f"[default]\naws_access_key_id = {s3.key_id}\naws_secret_access_key = {s3.secret}\n")
    boto = tmp_path / "boto.cfg"
    boto.write_text(f"[Credentials]\naws_access_key_id = {s3.key_id}\naws_secret_access_key = {wrong(s3.secret)}\n")
    env = s3.env(tmp_path, creds=False)
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(creds)
    env["BOTO_CONFIG"] = str(boto)
    check_access(mount(f"s3://{cred_bucket}", env=env))


@pytest.mark.parametrize("what", ["secret", "key_id"])
def test_wrong_credentials_give_eacces(mount, s3, cred_bucket, tmp_path, what):
    # The server refuses the signature (403). The user must see "access
    # denied", never an empty folder: either odofs refuses to mount, saying
    # so, or the mount comes up and ls/cat fail with EACCES.
    env = s3.env(tmp_path)
    if what == "secret":
        env["AWS_SECRET_ACCESS_KEY"] = wrong(s3.secret)
    else:
        env["AWS_ACCESS_KEY_ID"] = "AKIANOSUCHKEY0000000"
    t0 = time.monotonic()
    m = mount(f"s3://{cred_bucket}", env=env, expect_errors=(r"(?i)access denied",), allow_exit=True)
    log = m.log()
    assert s3.secret not in log and wrong(s3.secret) not in log, "a secret reached the log"
    if m.exited:
        assert m.proc.returncode != 0
        assert "access denied" in log.lower(), log
        # Not after retrying the 403 until the timeout (30 s by default).
        assert time.monotonic() - t0 < 20
        return
    cp = run(["ls", m], timeout=60, check=False, env={**os.environ, "LC_ALL": "C"})
    assert cp.returncode != 0, f"ls succeeded with wrong credentials: {cp.stdout!r}"
    assert "Permission denied" in cp.stderr
    with pytest.raises(PermissionError):
        os.listdir(m / "secret")
    cp = run(["cat", m / "top.txt"], timeout=60, check=False, env={**os.environ, "LC_ALL": "C"})
    assert cp.returncode != 0 and "Permission denied" in cp.stderr
    log = m.log()
    assert "access denied" in log.lower()
    assert s3.secret not in log and wrong(s3.secret) not in log, "a secret reached the log"


def test_secret_not_in_ps_or_log(mount, s3, cred_bucket, tmp_path):
    m = mount(f"s3://{cred_bucket}", "log_level=debug", env=s3.env(tmp_path))
    check_access(m)
    cmdline = open(f"/proc/{m.proc.pid}/cmdline", "rb").read().decode(errors="replace")
    assert s3.secret not in cmdline
    assert s3.secret not in m.log()


def test_anonymous(mount, s3, cred_bucket, tmp_path):
    # s3rver answers unsigned requests as for a public bucket (on RGW,
    # cred_bucket is public-read).
    check_access(mount(f"s3://{cred_bucket}", "anonymous", env=s3.env(tmp_path, creds=False)))


def test_anonymous_ignores_wrong_credentials(mount, s3, cred_bucket, tmp_path):
    env = s3.env(tmp_path)
    env["AWS_SECRET_ACCESS_KEY"] = wrong(s3.secret)
    check_access(mount(f"s3://{cred_bucket}", "anonymous", env=env))


def test_no_credentials_falls_back_to_unsigned(mount, s3, cred_bucket, tmp_path):
    # Nothing in the chain (instance metadata is off): unsigned requests,
    # with one log line saying so, reaching the mount within a few seconds.
    check_access(mount(f"s3://{cred_bucket}", env=s3.env(tmp_path, creds=False)))

