"""Writing, revising, publishing and archiving knowledge-base entries, on every store."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from aftersales import (
    ConcurrencyError,
    FrozenClock,
    InvalidInput,
    NotFound,
    StorageError,
    TriggerNotAllowed,
)
from aftersales.knowledge import (
    Article,
    ArticleKind,
    ArticleStatus,
    ArticleStore,
    KnowledgeBase,
    Language,
    MemoryArticleStore,
    SQLiteArticleStore,
)


@pytest.fixture(params=["memory", "sqlite"])
def article_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArticleStore]:
    made: ArticleStore = MemoryArticleStore()
    if request.param == "sqlite":
        made = SQLiteArticleStore(tmp_path / "kb.db")
    yield made
    made.close()


@pytest.fixture
def kb(article_store: ArticleStore, clock: FrozenClock) -> KnowledgeBase:
    return KnowledgeBase(article_store, clock=clock)


def write_refund_article(kb: KnowledgeBase, **overrides: object) -> Article:
    fields: dict[str, object] = {
        "language": "en",
        "category": "return_refund",
        "title": "When will I get my refund?",
        "body": "Refunds are issued within 3 working days of receiving the return.",
        "editor": "li.wei",
    }
    return kb.write(**{**fields, **overrides})  # type: ignore[arg-type]


def test_a_new_entry_is_a_draft_in_version_1_by_its_editor(
    kb: KnowledgeBase, clock: FrozenClock
) -> None:
    article = write_refund_article(kb, products=["kettle"], note="first cut")
    assert (article.status, article.version, article.revision) == (ArticleStatus.DRAFT, 1, 1)
    assert (article.editor, article.edit_note, article.history) == ("li.wei", "first cut", ())
    assert article.language is Language.EN
    assert article.products == ("kettle",)
    assert article.created_at == article.edited_at == clock.now()
    assert kb.get(article.id) == article


def test_a_revision_keeps_every_earlier_version_with_its_editor_and_time(
    kb: KnowledgeBase, clock: FrozenClock
) -> None:
    first = write_refund_article(kb)
    clock.advance(days=1)
    second = kb.revise(first.id, editor="zhang.min", note="bank times", body="Within 5 days.")
    clock.advance(days=1)
    third = kb.revise(second.id, editor="li.wei", title="Refund timing")
    assert (third.version, third.title, third.body) == (3, "Refund timing", "Within 5 days.")
    assert [(v.version, v.editor, v.note) for v in third.history] == [
        (1, "li.wei", None),
        (2, "zhang.min", "bank times"),
    ]
    assert third.history[0].body == first.body
    assert third.history[1].edited_at == second.edited_at == first.created_at + timedelta(days=1)
    assert kb.get(first.id) == third


def test_publish_then_archive_then_publish_again_records_who_published(
    kb: KnowledgeBase, clock: FrozenClock
) -> None:
    draft = write_refund_article(kb)
    clock.advance(hours=1)
    published = kb.publish(draft.id, by="zhang.min")
    assert published.status is ArticleStatus.PUBLISHED
    assert published.is_published
    assert (published.published_by, published.published_at) == ("zhang.min", clock.now())
    assert published.version == 1
    assert published.revision == 2
    archived = kb.archive(draft.id, by="li.wei")
    assert archived.status is ArticleStatus.ARCHIVED
    assert not archived.is_published
    assert kb.publish(draft.id, by="li.wei").status is ArticleStatus.PUBLISHED


def test_a_refused_status_change_names_the_article_and_both_statuses_and_changes_nothing(
    kb: KnowledgeBase,
) -> None:
    draft = write_refund_article(kb, article_id="refund-timing")
    published = kb.publish(draft.id, by="li.wei")
    with pytest.raises(TriggerNotAllowed) as raised:
        kb.publish(draft.id, by="li.wei")
    assert str(raised.value) == (
        "article 'refund-timing': trigger 'publish' is not allowed in state 'published' "
        "(allowed: archive)"
    )
    assert kb.get(draft.id) == published


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"category": "gardening"}, "category"),
        ({"language": "fr"}, "language"),
        ({"products": ["kettle", "kettle"]}, "products"),
        ({"steps": ["Open the lid."]}, ""),  # only a tutorial has steps
        ({"title": ""}, "title"),
        ({"editor": "li\nwei"}, "editor"),
    ],
)
def test_an_invalid_entry_is_refused_and_nothing_is_stored(
    kb: KnowledgeBase, overrides: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        write_refund_article(kb, **overrides)
    assert field in {str(part) for error in raised.value.errors for part in error.location} | {""}
    assert list(kb) == []


def test_a_tutorial_keeps_its_steps_in_order(kb: KnowledgeBase) -> None:
    tutorial = write_refund_article(kb, kind="tutorial", steps=["Open the lid.", "Descale."])
    assert tutorial.kind is ArticleKind.TUTORIAL
    assert kb.revise(tutorial.id, editor="li.wei", steps=["Descale."]).steps == ("Descale.",)


def test_a_revision_naming_an_unknown_field_or_nothing_is_refused(kb: KnowledgeBase) -> None:
    article = write_refund_article(kb)
    with pytest.raises(InvalidInput, match="unknown fields status; editable: title"):
        kb.revise(article.id, editor="li.wei", status="published")
    with pytest.raises(InvalidInput, match="nothing to change"):
        kb.revise(article.id, editor="li.wei")
    with pytest.raises(InvalidInput):
        kb.revise(article.id, editor="li.wei", category="gardening")
    assert kb.get(article.id) == article


def test_an_edit_from_a_stale_read_raises_and_keeps_the_other_edit(kb: KnowledgeBase) -> None:
    article = write_refund_article(kb)
    theirs = kb.revise(article.id, editor="zhang.min", body="Within 5 days.")
    with pytest.raises(ConcurrencyError):
        kb.revise(article.id, editor="li.wei", body="Mine.", expected_revision=article.revision)
    with pytest.raises(ConcurrencyError):
        kb.publish(article.id, by="li.wei", expected_revision=article.revision)
    assert kb.get(article.id) == theirs


def test_the_store_refuses_a_second_article_with_the_same_id(kb: KnowledgeBase) -> None:
    first = write_refund_article(kb, article_id="refund-timing")
    with pytest.raises(ConcurrencyError):
        write_refund_article(kb, article_id="refund-timing", title="Another")
    assert kb.get("refund-timing") == first


def test_an_unknown_article_is_not_found(kb: KnowledgeBase) -> None:
    with pytest.raises(NotFound, match="no article 'nope'"):
        kb.get("nope")
    with pytest.raises(NotFound):
        kb.publish("nope", by="li.wei")


def test_find_filters_by_status_kind_language_category_and_product(kb: KnowledgeBase) -> None:
    general = write_refund_article(kb)
    kettle = write_refund_article(kb, products=["kettle"], kind="faq")
    chinese = write_refund_article(kb, language="zh", title="退款多久到账", body="三个工作日内。")
    kb.publish(kettle.id, by="li.wei")
    assert [a.id for a in kb.find(status="published")] == [kettle.id]
    assert [a.id for a in kb.find(kind=ArticleKind.FAQ)] == [kettle.id]
    assert [a.id for a in kb.find(language="zh")] == [chinese.id]
    assert [a.id for a in kb.find(product="toaster")] == [general.id, chinese.id]
    assert [a.id for a in kb.find(product="kettle", language="en")] == [general.id, kettle.id]
    assert kb.find(category="delivery") == []
    with pytest.raises(InvalidInput, match="unknown status 'live'"):
        kb.find(status="live")


def test_add_stores_an_article_built_elsewhere_and_approve_publishes_it(
    kb: KnowledgeBase, clock: FrozenClock
) -> None:
    now = clock.now()
    draft = Article(
        kind="faq", language="en", category="delivery", title="Where is my parcel?",
        body="Follow the tracking link in your shipping email.", editor="faq-proposer",
        edited_at=now, created_at=now, updated_at=now,
    )  # fmt: skip
    approved = kb.approve(draft, by="zhang.min")
    assert (approved.status, approved.published_by, approved.editor) == (
        ArticleStatus.PUBLISHED,
        "zhang.min",
        "faq-proposer",
    )
    with pytest.raises(InvalidInput):
        kb.add({"title": "not an article"})  # type: ignore[arg-type]


def test_a_record_with_an_inconsistent_history_is_refused(clock: FrozenClock) -> None:
    now = clock.now()
    with pytest.raises(InvalidInput, match="history must hold versions 1 to version - 1"):
        Article(
            language="en", category="other", title="t", body="b", editor="e", version=2,
            edited_at=now, created_at=now, updated_at=now,
        )  # fmt: skip
    with pytest.raises(InvalidInput, match="in that order"):
        Article(
            language="en", category="other", title="t", body="b", editor="e",
            edited_at=now, created_at=now, updated_at=now - timedelta(seconds=1),
        )  # fmt: skip


def test_the_sqlite_store_keeps_articles_across_connections(
    tmp_path: Path, clock: FrozenClock
) -> None:
    path = tmp_path / "kb.db"
    kb = KnowledgeBase(SQLiteArticleStore(path), clock=clock)
    first = write_refund_article(kb)
    second = kb.publish(write_refund_article(kb, title="Second").id, by="li.wei")
    kb.store.close()
    reopened = KnowledgeBase(SQLiteArticleStore(path), clock=clock)
    assert list(reopened) == [first, second]
    reopened.store.close()


def test_the_sqlite_store_reports_a_record_it_cannot_read(tmp_path: Path) -> None:
    path = tmp_path / "kb.db"
    store = SQLiteArticleStore(path)
    with sqlite3.connect(path) as raw:
        raw.execute("INSERT INTO kb_articles (id, stamp, record) VALUES ('x', 1, '{}')")
    raw.close()
    with pytest.raises(StorageError, match="cannot read"):
        store.get("x")
    store.close()


def test_a_sqlite_store_that_cannot_be_opened_is_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="cannot open the article store"):
        SQLiteArticleStore(tmp_path / "missing-folder" / "kb.db")


def test_a_store_write_naming_an_old_revision_is_refused(
    article_store: ArticleStore, clock: FrozenClock
) -> None:
    kb = KnowledgeBase(article_store, clock=clock)
    article = write_refund_article(kb)
    revised = kb.revise(article.id, editor="zhang.min", body="Within 5 days.")
    with pytest.raises(ConcurrencyError) as raised:
        article_store.put(article, article.revision)
    assert (raised.value.expected_version, raised.value.actual_version) == (1, 2)
    assert article_store.get(article.id) == revised


def test_refresh_shows_what_another_process_published_in_a_shared_store(
    tmp_path: Path, clock: FrozenClock
) -> None:
    path = tmp_path / "kb.db"
    reader = KnowledgeBase(SQLiteArticleStore(path), clock=clock)
    writer = KnowledgeBase(SQLiteArticleStore(path), clock=clock)
    assert reader.suggest("refund working days") == []
    writer.publish(write_refund_article(writer).id, by="li.wei")
    assert reader.suggest("refund working days") == []  # not read again yet
    reader.refresh()
    assert len(reader.suggest("refund working days")) == 1
    reader.store.close()
    writer.store.close()


def test_an_article_store_creating_the_desks_file_keeps_it_private(tmp_path: Path) -> None:
    import stat

    from aftersales import SQLiteStore

    path = tmp_path / "shared.db"
    SQLiteArticleStore(path)
    SQLiteStore(path).close()
    for made in tmp_path.iterdir():  # the database and its -wal and -shm files
        assert stat.S_IMODE(made.stat().st_mode) == 0o600, made.name


@pytest.mark.parametrize("mode", [True, 0o1777, "0o600"])
def test_an_article_store_refuses_a_file_mode_that_is_not_permission_bits(
    tmp_path: Path, mode: object
) -> None:
    with pytest.raises(InvalidInput, match="file_mode"):
        SQLiteArticleStore(tmp_path / "kb.db", file_mode=mode)  # type: ignore[arg-type]
    assert not (tmp_path / "kb.db").exists()
