"""The CLI's edges, from its click tree: every number has a range (exit 2, one line, through the real
`main`), every option has help, and an option that several commands share has one default everywhere."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import click
import pytest

from tritongen import defaults
from tritongen.cli import cli
from tritongen.testing.cli import run


def commands(
    group: click.Group = cli, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command of the tree (groups included), with the words that invoke it."""
    context = click.Context(group)
    yield path, group
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))
        else:
            yield (*path, name), command


def ranged_options() -> Iterator[tuple[tuple[str, ...], click.Option]]:
    for path, command in commands():
        for param in command.params:
            if isinstance(param, click.Option) and isinstance(param.type, click.types._NumberRangeBase):
                yield path, param


def outside(kind: click.types._NumberRangeBase) -> str:
    """Just outside the range: below its minimum (the minimum itself when open), else above its maximum."""
    if kind.min is not None:
        return str(kind.min if kind.min_open else kind.min - 1)
    assert kind.max is not None
    return str(kind.max if kind.max_open else kind.max + 1)


RANGED = list(ranged_options())


def test_every_number_the_cli_takes_has_a_range() -> None:
    """Counting options with plain int/float types: none should be left (a port of 70000 must be exit 2)."""
    unranged = [
        f"{' '.join(path)} {param.opts[0]}"
        for path, command in commands()
        for param in command.params
        if isinstance(param.type, (click.types.IntParamType, click.types.FloatParamType))
        and not isinstance(param.type, click.types._NumberRangeBase)
    ]
    assert unranged == []
    names = {f"{' '.join(path)} {param.opts[0]}" for path, param in RANGED}
    assert {"launch --http-port", "launch --world-size", "bench --requests", "infer --timeout"} <= names


@pytest.mark.parametrize(
    ("path", "option"), RANGED, ids=[f"{' '.join(path)} {param.opts[0]}" for path, param in RANGED]
)
def test_an_out_of_range_value_is_exit_2_with_one_line(path: tuple[str, ...], option: click.Option) -> None:
    assert isinstance(option.type, click.types._NumberRangeBase)
    flag, value = option.opts[0], outside(option.type)
    result = run(*path, flag, value)
    assert result.code == 2, result
    assert result.out == ""
    assert result.err.startswith(f"error: invalid value for '{flag}': {value}"), result.err
    assert result.err.count("\n") == 1 and result.err.rstrip().endswith(
        f"See 'tritongen {' '.join(path)} --help'."
    )


HOSTS_SYNTAX = "is not HOST or HOST:SLOTS (e.g. node1:4,node2:4)."


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("launch", "--http-port", "70000"),
            "invalid value for '--http-port': 70000 is not in the range 1<=x<=65535.",
        ),
        (("launch", "--world-size", "0"), "invalid value for '--world-size': 0 is not in the range x>=1."),
        (("launch", "--hosts", "a:x"), f"invalid value for '--hosts': 'a:x' {HOSTS_SYNTAX}"),
        (("launch", "--hosts", "node1:4,:2"), f"invalid value for '--hosts': ':2' {HOSTS_SYNTAX}"),
        (("launch", "--hosts", "node1:0"), f"invalid value for '--hosts': 'node1:0' {HOSTS_SYNTAX}"),
        (
            ("bench", "--concurrency", "1,two"),
            "invalid value for '--concurrency': '1,two' is not a comma-separated list of integers.",
        ),
        (
            ("bench", "--concurrency", "4,0"),
            "invalid value for '--concurrency': '4,0' needs one or more levels, each at least 1.",
        ),
        (("infer",), "missing option '--prompt' / '-p'."),
        (("launch", "--oversubscrib"), "no such option '--oversubscrib'. Did you mean '--oversubscribe'?"),
    ],
)
def test_malformed_flags_are_usage_errors_not_launch_errors(args: tuple[str, ...], message: str) -> None:
    result = run(*args)
    expected = f"error: {message} See 'tritongen {args[0]} --help'.\n"
    assert (result.code, result.out, result.err) == (2, "", expected)


def test_the_three_ports_must_differ() -> None:
    result = run("launch", "--http-port", "9000", "--grpc-port", "9000")
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "error: --http-port 9000, --grpc-port 9000 and --metrics-port 8002 must be three different ports.\n"
    )


def test_well_formed_hosts_reach_the_launcher() -> None:
    """Syntax is the CLI's; whether a name resolves is still the launcher's question (exit 7)."""
    from tritongen.testing import FIXTURES_DIR

    repo = FIXTURES_DIR / "launch" / "tiny_llm"
    result = run("launch", repo, "--dry-run", "--hosts", "localhost:4, no-such-host.invalid:4")
    assert result.code == 7, result
    assert "no-such-host.invalid" in result.err and "cannot be resolved" in result.err


def test_every_option_and_command_has_help() -> None:
    missing = [
        f"{' '.join(path) or 'tritongen'} {param.opts[0]}"
        for path, command in commands()
        for param in command.params
        if isinstance(param, click.Option) and not (param.help or "").strip()
    ]
    assert missing == []
    assert [" ".join(path) for path, command in commands() if not (command.help or "").strip()] == []


def test_an_option_shared_by_commands_has_one_default() -> None:
    seen: dict[str, dict[str, object]] = {}
    for path, command in commands():
        for param in command.params:
            if isinstance(param, click.Option) and param.opts[0] not in ("--help", "-h"):
                seen.setdefault(param.opts[0], {})[" ".join(path)] = param.default
    shared = {flag: found for flag, found in seen.items() if len(found) > 1}
    assert {"--url", "--max-tokens", "--timeout", "--http-port", "--grace-period", "--model"} <= set(shared)
    assert {flag: found for flag, found in shared.items() if len(set(map(repr, found.values()))) > 1} == {}


def test_click_defaults_are_the_librarys_defaults() -> None:
    """The option defaults, the launcher's dataclasses and the clients read one module."""
    from tritongen.bench import BenchConfig
    from tritongen.client import GenerateOptions, InferClient
    from tritongen.launch.cluster import ClusterSpec
    from tritongen.launch.command import Ports
    from tritongen.launch.plan import LaunchOptions
    from tritongen.render.manifest import MANIFEST_NAME

    def default(command: str, flag: str) -> object:
        found = cli.commands[command]
        return next(p.default for p in found.params if isinstance(p, click.Option) and flag in p.opts)

    options = LaunchOptions(repo=Path("x"))
    assert (
        options.ports
        == Ports()
        == Ports(
            default("launch", "--http-port"),
            default("launch", "--grpc-port"),
            default("launch", "--metrics-port"),
        )
    )
    assert (Ports().http, Ports().grpc, Ports().metrics) == (
        defaults.HTTP_PORT,
        defaults.GRPC_PORT,
        defaults.METRICS_PORT,
    )
    assert options.grace_period == default("launch", "--grace-period") == default("stop", "--grace-period")
    assert options.ready_timeout == default("launch", "--ready-timeout") == defaults.READY_TIMEOUT_S
    assert options.host == default("launch", "--host") == defaults.BIND_HOST
    assert {f.name: f.default for f in fields(ClusterSpec)}["gpus_per_node"] == default(
        "render", "--gpus-per-node"
    )
    config = BenchConfig()
    assert config.url == default("bench", "--url") == default("infer", "--url") == InferClient().url
    assert config.max_tokens == default("bench", "--max-tokens") == GenerateOptions().max_tokens
    assert config.timeout_s == default("bench", "--timeout") == InferClient().timeout_s
    assert config.concurrency == defaults.BENCH_CONCURRENCY
    assert default("bench", "--concurrency") == ",".join(map(str, defaults.BENCH_CONCURRENCY))
    assert config.warmup_requests == default("bench", "--warmup")
    assert config.model == default("bench", "--model") == default("infer", "--model") == InferClient().model
    assert MANIFEST_NAME == defaults.MANIFEST_NAME


def test_render_writes_under_the_default_repos_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`render` without --output and `launch` without REPO agree on the folder (defaults.REPOS_DIR)."""
    monkeypatch.chdir(tmp_path)
    result = run("launch", "--dry-run")
    assert result.code == 2
    assert result.err == (
        f"error: no REPO given and {defaults.REPOS_DIR}/ holds 0 repositories (none). "
        f"Pass the repository path: `tritongen launch {defaults.REPOS_DIR}/NAME`.\n"
    )


def test_bare_group_prints_its_help() -> None:
    result = run()
    assert result.code == 2 and result.err.startswith("Usage: tritongen [OPTIONS] COMMAND [ARGS]...")
    example = run("example")
    assert example.code == 2 and "smollm2" in example.err


def test_cache_dir_moves_with_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tritongen.launch.server import cache_dir

    monkeypatch.setenv(defaults.CACHE_DIR_ENV, str(tmp_path / "cache"))
    assert cache_dir() == defaults.cache_dir() == tmp_path / "cache"
    monkeypatch.delenv(defaults.CACHE_DIR_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "tritongen"
