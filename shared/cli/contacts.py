"""`mgrid contacts delete NAME`: removing a contact (see `shared.services.lifecycle`)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

from shared import runtime
from shared.cli.common import Groups, emit, with_json
from shared.services.lifecycle import Lifecycle
from shared.settings import get_settings


def register(groups: Groups) -> None:
    contacts = groups.add_parser("contacts", help="contacts").add_subparsers(required=True)
    remove = contacts.add_parser("delete", help="delete a contact and its KPI links")
    remove.add_argument("name", help="the contact's name (any case)")
    with_json(remove, _delete)


def lifecycle() -> Lifecycle:
    """The lifecycle service, delivering resolved notices now as `mgrid alerts resolve` does."""

    def deliver(event_ids: Sequence[int]) -> Mapping[str, Any]:
        return runtime.event_dispatcher().dispatch_now(event_ids).summary()

    return Lifecycle(runtime.monitoring_engine(), get_settings(), deliver, actions=runtime.alert_actions())


def _delete(args: argparse.Namespace) -> int:
    deletion = lifecycle().delete_contact(args.name)
    linked = ", ".join(deletion.kpis) or "no KPI"
    emit(args, deletion.to_dict(), f"deleted contact {deletion.name} (was linked to {linked})")
    return 0
