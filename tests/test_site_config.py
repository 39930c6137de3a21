"""The site's configuration (docs/conf.py), without building the site.

- The cache of executed notebooks is named after a hash of the kit's code: a change to
  tbptt_kit/ (or to a solution, or smoke mode) names a fresh cache, and the stale one goes.
- The README becomes the home page with its links made relative to docs/.
- A page's snapshot links and launch badges are made that page's own.
The built site itself is checked in a browser by tests/e2e/test_site.py (make e2e).
"""

import importlib.util
import shutil
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def conf():
    spec = importlib.util.spec_from_file_location("site_conf", ROOT / "docs" / "conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def small_checkout(dest: Path) -> Path:
    widgets = Path("tbptt_kit", "course", "widgets")
    shutil.copytree(ROOT / widgets, dest / widgets, ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "notebooks" / "solutions").mkdir(parents=True)
    (dest / "notebooks" / "solutions" / "ex.py").write_text("answer = 1\n")
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


def test_a_change_to_the_kit_names_a_fresh_cache_and_the_stale_one_goes(conf, tmp_path):
    root = small_checkout(tmp_path)
    first = conf.cache_path(root, smoke=False)
    first.mkdir(parents=True)
    assert conf.code_hash(root, smoke=False) == conf.code_hash(root, smoke=False)
    assert conf.code_hash(root, smoke=True) != conf.code_hash(root, smoke=False)
    smoke = conf.cache_path(root, smoke=True)
    smoke.mkdir()
    lab = root / "tbptt_kit" / "course" / "widgets" / "lab.py"
    lab.write_text(lab.read_text() + "\n# a change\n")
    second = conf.cache_path(root, smoke=False)
    conf.remove_stale_caches(root, smoke=False)
    assert second != first and not first.exists(), "a stale cache would show older outputs"
    assert smoke.exists(), "the smoke cache of the same code is another mode's: kept"
    (root / "notebooks" / "solutions" / "ex.py").write_text("answer = 2\n")
    assert conf.cache_path(root, smoke=False) != second


def test_the_readme_is_the_home_page_with_links_from_docs(conf):
    source = [(ROOT / "docs" / "index.md").read_text()]
    conf.readme_as_home_page(None, "docs/index", source)
    assert "](../notebooks/00_welcome.ipynb)" in source[0]
    assert "](../benchmarks/README.md#epoch-time)" in source[0]
    assert "](notebooks/" not in source[0] and conf.README_MARK not in source[0]
    other = ["% The README goes here"]
    conf.readme_as_home_page(None, "notebooks/00_welcome", other)
    assert other == ["% The README goes here"]


def test_a_page_gets_its_own_launch_links_and_local_badges(conf):
    body = (
        '<img src="https://mybinder.org/badge_logo.svg"/>'
        '<a href="tbptt-launch:binder">B</a><a href="tbptt-launch:colab">C</a>'
    )
    context = {"body": body, "pathto": lambda name, resource: f"../{name}"}
    conf.launch_links(None, "notebooks/05_the_lab", "page.html", context, None)
    links = conf.links(conf.REPO, "notebooks/05_the_lab.ipynb")
    assert f'href="{links["binder"]}"' in context["body"]
    assert f'href="{links["colab"]}"' in context["body"]
    assert 'src="../_static/binder-badge.svg"' in context["body"]


def test_a_figure_gets_its_own_alt_text_on_the_page(conf, tmp_path):
    """myst-nb writes a figure's PNG as _images/<sha256>.png with that path as its alt: the
    site puts the figure's own alt text (tk.describe's, in the output metadata) there."""
    import base64
    import hashlib
    import json

    png = b"\x89PNG\r\n\x1a\n a figure"
    other = b"\x89PNG\r\n\x1a\n another figure"
    sha, sha_other = (hashlib.sha256(p).hexdigest() for p in (png, other))
    output = {
        "output_type": "display_data",
        "data": {"image/png": base64.b64encode(png).decode()},
        "metadata": {"image/png": {"alt": 'Loss against "epoch" <falls>.'}},
    }
    executed = tmp_path / "jupyter_execute" / "notebooks" / "03_x.ipynb"
    executed.parent.mkdir(parents=True)
    executed.write_text(json.dumps({"cells": [{"cell_type": "code", "outputs": [output]}]}))
    config = type("Config", (), {"nb_execution_cache_path": str(tmp_path / "cache")})()
    app = type("App", (), {"outdir": str(tmp_path / "site"), "config": config})()
    body = "".join(
        f'<img alt="../_images/{s}.png" src="../_images/{s}.png" />' for s in (sha, sha_other)
    )
    context = {"body": body}
    conf.figure_alt_text(app, "notebooks/03_x", "page.html", context, None)
    assert (
        f'alt="Loss against &quot;epoch&quot; &lt;falls&gt;." src="../_images/{sha}.png"'
        in (context["body"])
    )
    # a figure drawn without alt text gets a generic one, never its file name
    assert f'alt="a figure of the course" src="../_images/{sha_other}.png"' in context["body"]


def test_a_figure_of_a_page_built_from_the_cache_gets_its_alt_text(conf, tmp_path):
    """A page built from the execution cache has an executed copy without outputs; the alt
    text is read from the cache's record of the notebook instead."""
    import base64
    import hashlib
    import json

    png = b"\x89PNG\r\n\x1a\n a cached figure"
    sha = hashlib.sha256(png).hexdigest()
    output = {
        "output_type": "display_data",
        "data": {"image/png": [base64.b64encode(png).decode()]},
        "metadata": {"image/png": {"alt": "Memory grows with win_sz."}},
    }
    executed = tmp_path / "jupyter_execute" / "notebooks" / "03_x.ipynb"
    executed.parent.mkdir(parents=True)
    executed.write_text(json.dumps({"cells": [{"cell_type": "code", "outputs": []}]}))
    record = tmp_path / "cache" / "executed" / "0123abcd" / "base.ipynb"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"cells": [{"cell_type": "code", "outputs": [output]}]}))
    config = type("Config", (), {"nb_execution_cache_path": str(tmp_path / "cache")})()
    app = type("App", (), {"outdir": str(tmp_path / "site"), "config": config})()
    context = {"body": f'<img alt="../_images/{sha}.png" src="../_images/{sha}.png" />'}
    conf.figure_alt_text(app, "notebooks/03_x", "page.html", context, None)
    assert context["body"] == f'<img alt="Memory grows with win_sz." src="../_images/{sha}.png" />'


# -- a notebook that stalls: the build ends within minutes, naming the notebook and cell ----
def new_notebook(*sources):
    import nbformat

    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])


def run_cells(client, lost: str | None = None, reply_lost: str | None = None):
    """Run every cell of ``client``'s notebook. The request of the cell whose source is
    ``lost`` never reaches the kernel (what a request stranded on the kernel's shell socket
    looks like to the client: no "busy", no reply); the reply to ``reply_lost`` never
    reaches the client (the kernel ran it: "busy", "idle", and then nothing)."""
    with client.setup_kernel():
        send, receive, dropped = client.kc.execute, client.kc.shell_channel.get_msg, set()

        def execute(code, **kwargs):
            if code == lost:
                return "lost-request"
            msg_id = send(code, **kwargs)
            if code == reply_lost:
                dropped.add(msg_id)
            return msg_id

        async def get_msg(*args, **kwargs):
            while True:
                msg = await receive(*args, **kwargs)
                if msg["parent_header"].get("msg_id") not in dropped:
                    return msg

        client.kc.execute, client.kc.shell_channel.get_msg = execute, get_msg
        for index, cell in enumerate(client.nb.cells):
            client.execute_cell(cell, index)


@pytest.fixture
def watched(conf):
    """nbclient's client with the site's watch on cells (3 s to start), named 'stall.ipynb'."""
    nbclient = pytest.importorskip("nbclient")

    class Client(nbclient.NotebookClient):
        pass

    conf.watch_cells(Client, start_s=3, where=lambda client: "notebooks/stall.ipynb")
    return Client


@pytest.mark.slow
def test_a_cell_the_kernel_never_starts_ends_the_build_in_seconds_with_its_name(watched, capfd):
    from nbclient.exceptions import CellTimeoutError

    client = watched(new_notebook("x = 1", "y = 2", "z = 3"), timeout=600, kernel_name="python3")
    start = time.perf_counter()
    with pytest.raises(CellTimeoutError, match=r"notebooks/stall.ipynb, cell 1 \(y = 2\): the"):
        run_cells(client, lost="y = 2")
    assert time.perf_counter() - start < 60  # two waits of 3 s, and a kernel's start
    err = capfd.readouterr().err
    assert "site: notebooks/stall.ipynb, cell 1 (y = 2): not started after 3 s" in err
    assert (
        "site: notebooks/stall.ipynb, cell 1 (y = 2): the kernel left this cell not started" in err
    )


@pytest.mark.slow
def test_a_cell_run_whose_reply_never_comes_ends_in_seconds_with_its_name(watched, capfd):
    from nbclient.exceptions import CellTimeoutError

    client = watched(new_notebook("x = 1", "y = 2"), timeout=600, kernel_name="python3")
    start = time.perf_counter()
    with pytest.raises(CellTimeoutError, match=r"cell 1 \(y = 2\): the kernel left this cell fin"):
        run_cells(client, reply_lost="y = 2")
    assert time.perf_counter() - start < 60
    assert "cell 1 (y = 2): finished but no reply after 3 s" in capfd.readouterr().err


def test_a_notebook_that_stalled_runs_once_more_and_only_once(conf, capfd):
    stall = RuntimeError("the notebook failed")
    stall.__cause__ = TimeoutError(f"cell 3 (x = 1): ... {conf.STALL}")
    failure = RuntimeError("the notebook failed")
    failure.__cause__ = ValueError("a cell raised")
    runs = []

    def start(client):
        runs.append(client)
        if len(runs) <= client.stalls:
            raise stall if client.kind == "stall" else failure
        return "executed"

    retried = conf.run_again_after_a_stall(start)
    client = type("Client", (), {"path": conf.ROOT / "notebooks" / "01_x.ipynb"})
    client.kind, client.stalls = "stall", 1
    assert retried(client) == "executed" and len(runs) == 2
    assert "site: notebooks/01_x.ipynb: running it once more" in capfd.readouterr().err
    client.stalls, runs[:] = 2, []  # a stall twice in a row fails the build
    with pytest.raises(RuntimeError, match="the notebook failed"):
        retried(client)
    assert len(runs) == 2
    client.kind, client.stalls, runs[:] = "failure", 1, []  # the control: an error is not retried
    with pytest.raises(RuntimeError, match="the notebook failed"):
        retried(client)
    assert len(runs) == 1


@pytest.mark.slow
def test_a_cell_that_fails_is_named_with_its_error_on_the_terminal(watched, capfd):
    """Sphinx's parallel readers drop the log of a notebook that fails: the line is printed."""
    from nbclient.exceptions import CellExecutionError

    client = watched(new_notebook("x = 1", "x / 0"), timeout=600, kernel_name="python3")
    with pytest.raises(CellExecutionError, match="ZeroDivisionError"):
        run_cells(client)
    err = capfd.readouterr().err
    assert "site: notebooks/stall.ipynb, cell 1 (x / 0): ZeroDivisionError: division by zero" in err


@pytest.mark.slow
def test_a_slow_cell_that_has_started_is_left_to_run(watched):
    """The control: the watch tells a cell the kernel runs (a "busy" came) from a lost one."""
    nb = new_notebook("import time", "time.sleep(8)", "done = True")
    run_cells(watched(nb, timeout=600, kernel_name="python3"))
    assert nb.cells[2].execution_count == 3


@pytest.mark.slow
def test_without_the_watch_a_lost_cell_waits_for_the_whole_timeout(conf):
    """The control: nbclient alone waits out the per-cell timeout (the site's was 30 min)."""
    nbclient = pytest.importorskip("nbclient")
    client = nbclient.NotebookClient(
        new_notebook("x = 1", "y = 2"), timeout=8, kernel_name="python3"
    )
    start = time.perf_counter()
    with pytest.raises(nbclient.exceptions.CellTimeoutError, match="timed out"):
        run_cells(client, lost="y = 2")
    assert time.perf_counter() - start >= 8


def test_a_cell_that_runs_for_ten_minutes_has_hung(conf):
    assert conf.nb_execution_timeout <= 600 and conf.CELL_START_S <= 60


def test_the_execution_cache_exists_before_the_parallel_readers_start(conf, tmp_path, monkeypatch):
    """Each of Sphinx's readers opens the cache; the first to find no database made its
    tables, and a second one doing the same at once failed a fresh build (seen here: the
    first fresh build of eight notebooks on two readers)."""
    db = pytest.importorskip("jupyter_cache.cache.db")
    conf.create_execution_cache(tmp_path / "cache")
    assert (tmp_path / "cache" / db.DB_NAME).exists()
    created = []
    monkeypatch.setattr(db.OrmBase.metadata, "create_all", lambda *a, **k: created.append(a))
    db.create_db(tmp_path / "cache").dispose()  # what a reader does: no tables made again
    assert created == []
    (tmp_path / "fresh").mkdir()
    db.create_db(tmp_path / "fresh").dispose()  # the control: a reader that finds none
    assert len(created) == 1
