"""Fetching data files safely: try each mirror, verify the published MD5, and only then rename into place.

A download streams into a hidden temporary file in the target folder, hashing as it goes. Only a file
whose checksum matches is renamed to its final name (a rename within one folder is atomic), so a
half-finished or tampered download never looks like a real one. On a mismatch the temporary file is
deleted and ``ChecksumError`` names the file, the expected and the received checksum.
Archives are extracted into a temporary folder beside the target and renamed into place the same way.
"""
import contextlib
import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request

_CHUNK = 1 << 20


class ChecksumError(RuntimeError):
    """A downloaded file's MD5 differs from the published one."""


def md5sum(path):
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def check_integrity(path, md5=None):
    """True when ``path`` exists and (when ``md5`` is given) has that checksum."""
    return os.path.isfile(path) and (md5 is None or md5sum(path) == md5)


def _fetch(url, folder, filename, md5, timeout):
    fd, tmp = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=folder)
    try:
        digest = hashlib.md5(usedforsecurity=False)
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            for block in iter(lambda: response.read(_CHUNK), b""):
                digest.update(block)
                out.write(block)
        got = digest.hexdigest()
        if md5 is not None and got != md5:
            raise ChecksumError(
                f"checksum mismatch for {filename} downloaded from {url}: expected MD5 {md5}, got {got}; "
                "the file was deleted"
            )
        os.replace(tmp, os.path.join(folder, filename))
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def download_url(mirrors, filename, folder, md5=None, timeout=30.0):
    """Download ``filename`` into ``folder`` from the first of ``mirrors`` (base URLs) that answers.

    Skips the download when a file with the right checksum is already there. A network error moves on
    to the next mirror; a checksum mismatch stops at once (``ChecksumError``). Returns the file's path.
    """
    path = os.path.join(folder, filename)
    if check_integrity(path, md5):
        return path
    os.makedirs(folder, exist_ok=True)
    errors = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + filename
        try:
            _fetch(url, folder, filename, md5, timeout)
            return path
        except OSError as e:
            errors.append(f"{url}: {e}")
    raise RuntimeError(f"could not download {filename} from any mirror:\n  " + "\n  ".join(errors))


@contextlib.contextmanager
def removed_on_failure(folder):
    """Create ``folder`` (and missing parents); if the block fails, remove those that are still empty."""
    created = []
    path = os.path.abspath(folder)
    while not os.path.exists(path):
        created.append(path)
        path = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    try:
        yield folder
    except BaseException:
        for path in created:
            with contextlib.suppress(OSError):
                os.rmdir(path)
        raise


def _safe_members(archive, destination):
    root = os.path.realpath(destination)
    for member in archive.getmembers():
        target = os.path.realpath(os.path.join(destination, member.name))
        if not (member.isfile() or member.isdir()) or os.path.commonpath([root, target]) != root:
            raise RuntimeError(f"refusing archive entry {member.name!r}: not a plain file inside the archive folder")
        yield member


def extract_tar(archive_path, folder, expected_dir):
    """Extract ``archive_path`` into ``folder`` so that ``folder/expected_dir`` appears whole or not at all."""
    final = os.path.join(folder, expected_dir)
    staging = tempfile.mkdtemp(prefix=f".{expected_dir}.", suffix=".part", dir=folder)
    try:
        with tarfile.open(archive_path, "r:*") as archive:
            # Members are checked here; Pythons with extraction filters also apply the strict 'data' one.
            strict = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            archive.extractall(staging, members=list(_safe_members(archive, staging)), **strict)
        extracted = os.path.join(staging, expected_dir)
        if not os.path.isdir(extracted):
            raise RuntimeError(f"{archive_path} does not contain the folder {expected_dir!r}")
        if os.path.isdir(final):
            shutil.rmtree(final)
        os.replace(extracted, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final
