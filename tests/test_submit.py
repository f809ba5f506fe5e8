"""``add`` as a library call: validation, blobs, dedup and the queue."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import FOUR_PAGES, GOOGLE_DOC, MULTICOLUMN, TRIVIAL, corpus
from ingestq.config import load_settings
from ingestq.errors import UsageError
from ingestq.ops.inputs import ChunkOptions, SubmitOptions
from ingestq.ops.submit import add_paths
from ingestq.queue import open_queue
from ingestq.store import open_blob_store

# Each test runs twice: on an embedded home, then on the servers (see conftest).
pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    shutil.copy(corpus(TRIVIAL), root / "a.pdf")
    shutil.copy(corpus(FOUR_PAGES), root / "sub" / "b.PDF")
    shutil.copy(corpus(MULTICOLUMN), root / "sub" / "c.pdf")
    (root / "notes.txt").write_text("not a pdf")
    return root


def test_directories_are_searched_recursively_for_pdfs(docs: Path) -> None:
    result = add_paths(load_settings(), [str(docs)])
    assert result.errors == []
    sources = sorted(Path(s.job.source).name for s in result.submitted)
    assert sources == ["a.pdf", "b.PDF", "c.pdf"]
    assert {s.job.state for s in result.submitted} == {"queued"}


def test_globs_are_expanded(docs: Path) -> None:
    result = add_paths(load_settings(), [f"{docs}/**/*.pdf"])
    assert sorted(Path(s.job.source).name for s in result.submitted) == ["a.pdf", "c.pdf"]


def test_each_job_is_enqueued_by_id_and_its_blob_stored(docs: Path) -> None:
    settings = load_settings()
    result = add_paths(settings, [str(docs / "a.pdf")])
    [sub] = result.submitted
    assert open_queue(settings).pending_job_ids() == {sub.job.id}
    blobs = open_blob_store(settings)
    with blobs.open(sub.job.content_hash or "") as blob:
        assert blob.read() == corpus(TRIVIAL).read_bytes()
    # The job no longer needs the original.
    (docs / "a.pdf").unlink()
    with blobs.local_path(sub.job.content_hash or "") as path:
        assert path.read_bytes() == corpus(TRIVIAL).read_bytes()
    blobs.close()


def test_invalid_paths_are_reported_and_valid_ones_still_queued(docs: Path) -> None:
    (docs / "fake.pdf").write_text("hello, I am text")
    result = add_paths(
        load_settings(),
        [
            str(docs / "a.pdf"),
            str(docs / "missing.pdf"),
            str(docs / "fake.pdf"),
            str(docs / "notes.txt"),
            str(docs / "*.nomatch"),
        ],
    )
    assert [Path(s.job.source).name for s in result.submitted] == ["a.pdf"]
    assert len(result.errors) == 4
    assert any("no such file" in e for e in result.errors)
    assert sum("not a PDF" in e for e in result.errors) == 2
    assert any("no file matches" in e for e in result.errors)


def test_magic_bytes_decide_not_the_name(docs: Path) -> None:
    shutil.copy(corpus(TRIVIAL), docs / "report.bin")
    result = add_paths(load_settings(), [str(docs / "report.bin")])
    assert len(result.submitted) == 1


def test_nothing_valid_is_a_usage_error(docs: Path) -> None:
    with pytest.raises(UsageError, match="nothing to add"):
        add_paths(load_settings(), [str(docs / "notes.txt")])
    (docs / "empty").mkdir()
    with pytest.raises(UsageError, match="no PDF files"):
        add_paths(load_settings(), [str(docs / "empty")])


def test_size_limit(docs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INGESTQ_MAX_FILE_MB", "0.02")  # ~20 kB: a.pdf fits, b.PDF does not
    result = add_paths(load_settings(), [str(docs / "a.pdf"), str(docs / "sub" / "b.PDF")])
    assert [Path(s.job.source).name for s in result.submitted] == ["a.pdf"]
    assert "INGESTQ_MAX_FILE_MB" in result.errors[0]


def test_dangling_symlink_is_reported(docs: Path) -> None:
    (docs / "gone.pdf").symlink_to(docs / "never-existed.pdf")
    result = add_paths(load_settings(), [str(docs / "gone.pdf"), str(docs / "a.pdf")])
    assert len(result.submitted) == 1
    assert result.errors == [f"{docs / 'gone.pdf'}: no such file"]


def test_same_content_is_not_queued_twice_unless_forced(docs: Path, tmp_path: Path) -> None:
    settings = load_settings()
    [first] = add_paths(settings, [str(docs / "a.pdf")]).submitted
    copy = tmp_path / "elsewhere.pdf"
    shutil.copy(docs / "a.pdf", copy)
    [again] = add_paths(settings, [str(copy)]).submitted
    assert again.duplicate_of == first.job.id and again.job.id == first.job.id
    [other_coll] = add_paths(settings, [str(copy)], SubmitOptions(collection="other")).submitted
    assert other_coll.duplicate_of is None
    [forced] = add_paths(settings, [str(copy)], SubmitOptions(force=True)).submitted
    assert forced.duplicate_of is None and forced.job.id != first.job.id
    assert len(open_queue(settings).pending_job_ids()) == 3


def test_same_bytes_twice_in_one_call_make_one_job(docs: Path) -> None:
    shutil.copy(docs / "a.pdf", docs / "a-copy.pdf")
    result = add_paths(load_settings(), [str(docs / "a.pdf"), str(docs / "a-copy.pdf")])
    ids = {s.job.id for s in result.submitted}
    assert len(ids) == 1
    assert [s.duplicate_of is not None for s in result.submitted].count(True) == 1


@pytest.mark.parametrize("name", ["ab", "-bad", "white space", "a..b", "x" * 600])
def test_bad_collection_names_are_usage_errors(docs: Path, name: str) -> None:
    with pytest.raises(UsageError, match="invalid collection name"):
        add_paths(load_settings(), [str(docs)], SubmitOptions(collection=name))


def test_chunk_options_are_validated_and_kept_on_the_job(docs: Path) -> None:
    with pytest.raises(UsageError):
        add_paths(
            load_settings(),
            [str(docs)],
            SubmitOptions(chunking=ChunkOptions(tokens=50, overlap=50)),
        )
    with pytest.raises(UsageError):
        add_paths(load_settings(), [str(docs)], SubmitOptions(chunking=ChunkOptions(tokens=4)))
    [sub] = add_paths(
        load_settings(),
        [str(docs / "a.pdf")],
        SubmitOptions(chunking=ChunkOptions(tokens=128, overlap=16)),
    ).submitted
    assert sub.job.options == {"chunk_tokens": 128, "chunk_overlap": 16}


def test_json_shape(docs: Path) -> None:
    shutil.copy(corpus(GOOGLE_DOC), docs / "g.pdf")
    settings = load_settings()
    [new] = add_paths(settings, [str(docs / "g.pdf")]).submitted
    assert set(new.to_dict()) == {"id", "source", "state"}
    [dup] = add_paths(settings, [str(docs / "g.pdf")]).submitted
    assert dup.to_dict()["duplicate_of"] == new.job.id
