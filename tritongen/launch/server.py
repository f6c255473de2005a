"""Finding `tritonserver` and preparing what it needs to run Python-backend models.

Search order: the `--tritonserver` flag, `$TRITONSERVER`, `tritonserver` on PATH, the NGC container's
`/opt/tritonserver`, and last the server bundled in the PyPI wheel `nvidia-pytriton`.

The bundled server ships one Python-backend stub per Python version. The stub must match the
interpreter whose packages the models import, and it must load *that* interpreter's libpython, so we
prepare a backend directory outside site-packages (a per-user cache) with the matching stub, and
an environment whose LD_LIBRARY_PATH puts the running Python's library directory first.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

from tritongen.defaults import cache_dir as cache_dir  # noqa: PLC0414 (re-exported)
from tritongen.errors import LaunchError

CONTAINER_TRITONSERVER = Path("/opt/tritonserver/bin/tritonserver")


@dataclass(frozen=True)
class TritonServer:
    """A runnable tritonserver: the binary, its backend directory and the environment it needs."""

    binary: Path
    backend_dir: Path | None  # None: the server's own default (/opt/tritonserver/backends)
    found_by: str  # "flag", "env", "PATH", "container", "nvidia-pytriton"
    env: dict[str, str] = field(default_factory=dict)  # variables to add to the parent environment

    def server_args(self) -> list[str]:
        """Arguments every rank needs to find its backends."""
        return [f"--backend-directory={self.backend_dir}"] if self.backend_dir else []

    def environment(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """`base` (default: os.environ) with this server's variables merged in (paths prepended)."""
        merged = dict(os.environ if base is None else base)
        for key, value in self.env.items():
            if key in ("LD_LIBRARY_PATH", "PATH") and merged.get(key):
                merged[key] = f"{value}{os.pathsep}{merged[key]}"
            else:
                merged[key] = value
        return merged


def find_tritonserver(flag: str | Path | None = None) -> TritonServer:
    """Locate a tritonserver, or raise LaunchError listing every place that was searched."""
    if flag:
        return _explicit(Path(flag), "flag", "--tritonserver")
    if os.environ.get("TRITONSERVER"):
        return _explicit(Path(os.environ["TRITONSERVER"]), "env", "$TRITONSERVER")
    on_path = shutil.which("tritonserver")
    if on_path:
        return TritonServer(Path(on_path), None, "PATH", _python_env())
    if os.access(CONTAINER_TRITONSERVER, os.X_OK):
        return TritonServer(CONTAINER_TRITONSERVER, None, "container", _python_env())
    bundled = _bundled_pytriton()
    if bundled is not None:
        return bundled
    raise LaunchError(
        "tritonserver not found (searched --tritonserver, $TRITONSERVER, PATH, /opt/tritonserver, "
        "and the nvidia-pytriton wheel)",
        hint="Install it with `pip install nvidia-pytriton` (CPU-capable), run inside the NGC "
        "tritonserver container, or pass --tritonserver PATH.",
    )


def _explicit(path: Path, found_by: str, what: str) -> TritonServer:
    """A server the user named: it must exist; if it is the bundled one, prepare it the same way."""
    path = path.expanduser()
    if path.is_dir():
        path = path / "bin" / "tritonserver"
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise LaunchError(
            f"{what} points at {path}, which is not an executable tritonserver",
            hint="Give the path of the tritonserver binary (or the directory that holds bin/tritonserver).",
        )
    bundled = _bundled_pytriton()
    if bundled is not None and path.resolve() == _pytriton_root_binary():
        return TritonServer(bundled.binary, bundled.backend_dir, found_by, bundled.env)
    backends = path.parent.parent / "backends"
    return TritonServer(path, backends if backends.is_dir() else None, found_by, _python_env())


def _pytriton_dist() -> Path | None:
    """The `pytriton/tritonserver` directory of an installed nvidia-pytriton wheel, if any."""
    import importlib.util

    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        return None
    dist = Path(next(iter(spec.submodule_search_locations))) / "tritonserver"
    return dist if (dist / "bin" / "tritonserver").is_file() else None


def _pytriton_root_binary() -> Path | None:
    dist = _pytriton_dist()
    return (dist / "bin" / "tritonserver").resolve() if dist else None


def _bundled_pytriton() -> TritonServer | None:
    """Prepare (once, cached) the nvidia-pytriton server with the stub for this Python."""
    dist = _pytriton_dist()
    if dist is None:
        return None
    python_version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = dist / "python_backend_stubs" / python_version / "triton_python_backend_stub"
    if not stub.is_file():
        raise LaunchError(
            f"the tritonserver bundled in nvidia-pytriton has no Python-backend stub for Python {python_version}",
            hint="Use a Python version the wheel supports (see pytriton/tritonserver/python_backend_stubs), "
            "or the NGC tritonserver container.",
        )
    check_bundled_numpy(_installed_version("nvidia-pytriton"), _installed_version("numpy"))
    libs = dist.parent.parent / "nvidia_pytriton.libs"
    prepared = _prepare_backend_dir(dist, stub, python_version)
    env = _python_env()
    library_path = [p for p in (env.get("LD_LIBRARY_PATH"), str(libs) if libs.is_dir() else None) if p]
    env["LD_LIBRARY_PATH"] = os.pathsep.join(library_path)
    return TritonServer(dist / "bin" / "tritonserver", prepared, "nvidia-pytriton", env)


def _installed_version(distribution: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def check_bundled_numpy(pytriton_version: str | None, numpy_version: str | None) -> None:
    """Refuse numpy 2 with nvidia-pytriton <= 0.7 (tritonserver 2.51), whose Python backend then corrupts
    every string tensor ("unpack_from requires a buffer of at least ..."), killing preprocessing."""
    from tritongen.versions import Version

    if not pytriton_version or not numpy_version:
        return
    if Version.parse(numpy_version).major >= 2 and Version.parse(pytriton_version) < Version(0, 8):
        raise LaunchError(
            f"numpy {numpy_version} with the tritonserver bundled in nvidia-pytriton {pytriton_version}: its "
            "Python backend corrupts string tensors under numpy 2, so the ensemble cannot work",
            hint="pip install 'numpy<2' (nvidia-pytriton requires it), or use the NGC tritonserver container.",
        )


def _prepare_backend_dir(dist: Path, stub: Path, python_version: str) -> Path:
    """Copy the Python backend and the matching stub into the cache; atomic and reused when current."""
    stamp = f"{dist.resolve()}|{stub.stat().st_size}|{stub.stat().st_mtime_ns}"
    target = cache_dir() / f"pytriton-backends-py{python_version}"
    stamp_file = target / ".source"
    if stamp_file.is_file() and stamp_file.read_text() == stamp:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f"{target.name}.tmp{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(dist / "backends", staging)
    shutil.copy2(stub, staging / "python" / "triton_python_backend_stub")
    (staging / ".source").write_text(stamp)
    shutil.rmtree(target, ignore_errors=True)
    try:
        staging.rename(target)
    except OSError:  # another process prepared it at the same moment: theirs is as good as ours
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _python_env() -> dict[str, str]:
    """Variables that let Python-backend stubs import this interpreter's packages.

    The stub embeds libpython: it must be the running interpreter's (pyenv/conda builds differ from
    the system one), and `python3` on PATH must be this environment's so the stub finds its
    site-packages.
    """
    env: dict[str, str] = {"PATH": str(Path(sys.executable).parent)}
    libdir = sysconfig.get_config_var("LIBDIR")
    if libdir and sysconfig.get_config_var("Py_ENABLE_SHARED"):
        env["LD_LIBRARY_PATH"] = str(libdir)
    return env
