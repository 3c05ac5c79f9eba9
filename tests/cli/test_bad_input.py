"""What a new user or an adversary types: each mistake is one line on stderr and the exit code of
its class (modelcycle/exceptions.py), never a traceback, and nothing half-done."""

from __future__ import annotations

import subprocess

import pytest

import modelcycle as mc
from modelcycle import config
from modelcycle.store.entities import Metric

T0 = 1_767_225_600_000


def clean_failure(out: subprocess.CompletedProcess, code: int, *fragments: str) -> None:
    assert out.returncode == code, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr + out.stdout
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), out.stderr
    for fragment in fragments:
        assert fragment in out.stderr, (fragment, out.stderr)


@pytest.fixture
def two_runs() -> list[str]:
    store = mc.Client(config.tracking_uri(), config.artifact_uri()).store
    experiment = store.create_experiment("plots", {}).id
    ids = []
    for i in range(2):
        run = store.create_run(experiment, f"r{i}", {}, None, T0)
        store.log_batch(run.id, [Metric("loss", 1.0 / (s + 1 + i), s, T0 + s) for s in range(5)], {}, {})
        ids.append(run.id)
    return ids


@pytest.fixture
def dataset(tmp_path) -> str:
    path = tmp_path / "d.csv"
    path.write_text("x,y\n" + "".join(f"{i},{i % 3}\n" for i in range(50)), encoding="utf-8")
    mc.log_dataset(str(path), name="d")
    return str(path)


# ---------------------------------------------------------------------- files the commands write
def test_a_plot_path_that_is_a_folder_is_refused_before_anything_is_printed(two_runs, tmp_path, main_):
    out = main_("runs", "compare", *two_runs, "--plot", str(tmp_path))
    clean_failure(out, 2, "--plot", str(tmp_path), "is a folder")
    assert out.stdout == ""
    clean_failure(main_("runs", "compare", *two_runs, "--plot", ""), 2, "--plot", "is a folder")


def test_a_plot_path_under_a_file_is_a_clear_error(two_runs, tmp_path, main_):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    clean_failure(main_("runs", "compare", *two_runs, "--plot", str(blocker / "sub" / "c.png")), 2,
                  "Cannot write --plot", str(blocker / "sub" / "c.png"))


def test_a_plot_format_matplotlib_cannot_write_is_named(two_runs, tmp_path, main_):
    out = main_("runs", "compare", *two_runs, "--plot", str(tmp_path / "c.xyz"))
    clean_failure(out, 2, "--plot", "'.xyz'", "png", "svg", "pdf")
    assert out.stdout == "" and not (tmp_path / "c.xyz").exists()


def test_a_plot_path_without_a_suffix_says_where_the_png_went(two_runs, tmp_path, main_):
    out = main_("runs", "compare", *two_runs, "--plot", str(tmp_path / "curves"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG")
    assert f"written to {tmp_path / 'curves.png'}" in out.stderr
    out = main_("runs", "compare", *two_runs, "--plot", str(tmp_path / "curves.svg"))
    assert out.returncode == 0 and (tmp_path / "curves.svg").read_text().lstrip().startswith("<?xml")


def test_a_schema_written_to_a_folder_or_under_a_file_is_a_clear_error(dataset, tmp_path, main_):
    clean_failure(main_("data", "schema", "d@1", "--out", str(tmp_path)), 2, "--out", "is a folder")
    clean_failure(main_("data", "schema", "d@1", "--out", f"{dataset}/s.yaml"), 2, "Cannot write --out")


def test_a_schema_written_to_dash_goes_to_stdout(dataset, tmp_path, main_, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = main_("data", "schema", "d@1", "--out", "-")
    assert out.returncode == 0 and "x:" in out.stdout and not (tmp_path / "-").exists()


@pytest.mark.parametrize("command", ["validate", "diff"])
def test_a_report_path_that_cannot_be_written_is_refused_before_the_work(dataset, tmp_path, main_, command):
    args = [dataset, "--against", "d@1"] if command == "validate" else ["d@1", "d@1"]
    out = main_("data", command, *args, "--report", str(tmp_path))
    clean_failure(out, 2, "--report", "is a folder")
    assert out.stdout == ""
    clean_failure(main_("data", command, *args, "--report", f"{dataset}/r.html"), 2, "Cannot write --report")


# ---------------------------------------------------------------------- huge values
def test_a_huge_value_is_cut_in_the_error_message(main_):
    huge = "x" * 100_000
    for args in (["runs", "ls", "--filter", huge], ["experiments", "delete", huge], ["runs", "show", huge]):
        out = main_(*args)
        assert out.returncode == 2, (args, out.stderr[:300])
        assert out.stderr.startswith("Error: ") and len(out.stderr) < 4000, len(out.stderr)
        assert "Traceback" not in out.stderr
    assert "more characters" in main_("runs", "show", huge).stderr


def test_columns_names_an_unknown_column_as_typed(two_runs, main_):
    clean_failure(main_("runs", "ls", "--columns", "a\nb"), 2, "'a\\nb'")


# ---------------------------------------------------------------------- stores that are not there
def test_a_file_that_is_not_a_database_exits_6_in_one_line(tmp_path, main_):
    junk = tmp_path / "junk.db"
    junk.write_bytes(bytes(range(256)) * 20)
    for args in (["runs", "ls"], ["experiments", "create", "e"], ["models", "ls"], ["data", "ls"]):
        clean_failure(main_("--tracking-uri", f"sqlite:///{junk}", *args), 6, "Cannot open the database")


def test_a_database_server_that_refuses_exits_6_in_one_line(main_):
    from tests.conftest import free_port

    uri = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test"
    clean_failure(main_("--tracking-uri", uri, "runs", "ls"), 6, "Cannot open the database", "refused")


@pytest.mark.parametrize("url", ["http://[::1", "http://exa mple.com:80", "http://127.0.0.1:port"])
def test_a_malformed_server_address_exits_2_naming_it(url, main_):
    clean_failure(main_("--tracking-uri", url, "runs", "ls"), 2, repr(url.rstrip("/")))


# ---------------------------------------------------------------------- text files
def test_a_csv_not_in_utf8_says_to_pass_its_encoding(dataset, tmp_path, main_):
    latin = tmp_path / "latin.csv"
    latin.write_bytes("année,ville\n2024,Córdoba\n".encode("latin-1"))
    clean_failure(main_("data", "add", str(latin), "--name", "l"), 2, "--encoding")
    clean_failure(main_("data", "validate", str(latin), "--against", "d@1"), 2, "--encoding")
    assert main_("data", "add", str(latin), "--name", "l", "--encoding", "latin-1").returncode == 0


def test_an_encoding_with_a_nul_is_an_unknown_encoding(dataset, main_):
    clean_failure(main_("data", "add", dataset, "--name", "d", "--encoding", "utf\x008"), 2, "Unknown encoding")


def test_a_schema_file_that_is_not_text_is_a_clear_error(dataset, tmp_path, main_):
    binary = tmp_path / "s.yaml"
    binary.write_bytes(b"\xff\xfe\x00\x01" * 10)
    clean_failure(main_("data", "validate", dataset, "--against", "d@1", "--schema", str(binary)), 2, str(binary))


# ---------------------------------------------------------------------- modelcycle server
def test_server_refuses_an_address_it_cannot_listen_on_before_announcing_itself(main_):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = main_("server", "--port", str(port))
        clean_failure(out, 5, f"127.0.0.1:{port}", "in use")
        assert out.stdout == ""
    out = main_("server", "--host", "999.1.1.1", "--port", "5999")
    clean_failure(out, 2, "999.1.1.1")
    assert out.stdout == ""


def test_server_refuses_stores_it_cannot_open_before_announcing_itself(tmp_path, main_):
    junk = tmp_path / "junk.db"
    junk.write_bytes(bytes(range(256)) * 20)
    out = main_("server", "--store", f"sqlite:///{junk}", "--port", "5999")
    clean_failure(out, 6, "Cannot open the database")
    assert out.stdout == ""
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    out = main_("server", "--artifacts", str(a_file), "--port", "5999")
    clean_failure(out, 2, "--artifacts", str(a_file), "not a folder")
    assert out.stdout == ""


def test_a_home_that_is_a_file_exits_6_naming_it(tmp_path, monkeypatch, main_):
    from modelcycle.store import clear_store_cache

    home = tmp_path / "home-file"
    home.write_text("x")
    monkeypatch.setenv("MODELCYCLE_HOME", str(home))
    clear_store_cache()
    clean_failure(main_("runs", "ls"), 6, "Cannot open the database", str(home))


# ---------------------------------------------------------------------- names that are terminal commands
EVIL = "evil\x1b[2J\x1b]0;owned\x07\u202etxt.exe"  # clear the screen, retitle the terminal, reverse the text


def test_control_characters_in_stored_names_are_shown_not_obeyed(main_):
    import json

    client = mc.Client(config.tracking_uri(), config.artifact_uri())
    client.create_experiment(EVIL)
    run = client.create_run(EVIL, name=EVIL, tags={"note": EVIL}, capture_context=False)
    client.log_param(run.id, "p", EVIL)
    outputs = [main_("experiments", "ls"), main_("runs", "ls"), main_("runs", "ls", "-c", "p,tags.note"),
               main_("runs", "show", run.id), main_("experiments", "rename", EVIL, EVIL + "2"),
               main_("experiments", "delete", EVIL + "2"), main_("runs", "ls", "-e", "nope" + EVIL)]
    for out in outputs:
        assert "\x1b" not in out.stdout + out.stderr and "\u202e" not in out.stdout + out.stderr, out
    assert "evil␛[2J␛]0;owned␇" in outputs[0].stdout
    listed = json.loads(main_("experiments", "ls", "--view", "all", "-o", "json").stdout)
    assert [e["name"] for e in listed] == [EVIL + "2"]  # the data itself is kept as it is


# ---------------------------------------------------------------------- a server that is not ours
@pytest.fixture
def web_server():
    """An HTTP server that is not a tracking server: it answers every request with a page."""
    import http.server
    import threading

    status = {"code": 200}

    class Page(http.server.BaseHTTPRequestHandler):
        def _answer(self):
            body = b"<html><body>\n<h1>Welcome</h1>\n</body></html>\n"
            self.send_response(status["code"])
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", status
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("code", [200, 404, 502])
def test_a_web_server_that_is_not_a_tracking_server_exits_6_saying_so(web_server, main_, code):
    url, status = web_server
    status["code"] = code
    for args in (["runs", "ls"], ["experiments", "create", "x"], ["models", "ls"],
                 ["runs", "show", "0" * 32]):
        clean_failure(main_("--tracking-uri", url, *args), 6, url, "not an answer of a modelcycle tracking server",
                      f"{code}")
