"""The confirmed import through the admin page: the waiting upload (a list of readers'
addresses on disk) is gone once imported, and its key cannot import it a second time."""

from __future__ import annotations

import re

from mailer.subscribers.models import Subscriber
from tests.web.test_admin_routes import _post, _subscriber_count, _upload, admin_client

__all__ = ["admin_client"]  # the fixture, used here by name


def test_a_confirmed_import_removes_its_upload_and_its_key_works_once(admin_client, session, rt):
    """Mutants of ``csv_uploads.discard`` (none reached in-process by `make mutate`
    before: the confirm step had no test that imported): the upload's path made from no
    folder, editor or key, so the file stayed in ``var/imports`` for its day."""
    preview = _upload(admin_client, b"E-post,Navn\nny.leser@example.no,Ny Leser\n")
    assert preview.status_code == 200
    key = re.search(r'name="key" value="([^"]+)"', preview.get_data(as_text=True))[1]
    uploads = rt.settings.var_dir / "imports"
    assert [p.name for p in uploads.glob(f"*-{key}.csv")] != []
    before = _subscriber_count(session)

    done = _post(
        admin_client,
        "/admin/subscribers/import/confirm",
        key=key,
        filename="liste.csv",
        mode="confirm",
        column_email="E-post",
        column_name="Navn",
    )

    assert done.status_code == 200
    assert _subscriber_count(session) == before + 1
    assert session.query(Subscriber).filter_by(email="ny.leser@example.no").one().name == "Ny Leser"
    assert list(uploads.glob(f"*-{key}.csv")) == []
    again = _post(
        admin_client,
        "/admin/subscribers/import/confirm",
        key=key,
        filename="liste.csv",
        mode="confirm",
        column_email="E-post",
        column_name="Navn",
    )
    assert again.status_code == 400
    assert 'data-field="upload"' in again.get_data(as_text=True)
    assert _subscriber_count(session) == before + 1
