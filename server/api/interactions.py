"""POST /api/v1/conversations/<id>/interactions: webinar interactions from the host app.

The host application (the webinar platform) reports what an attendee did besides chatting:
answered a poll, asked a question in the Q&A. Each report becomes a timeline event in the
attendee's conversation, posted through its actor like any message (``kind`` ``event``,
``data.event`` ``interaction``, staff only), so staff see it in the console and the Slack
bridge mirrors it into the attendee's thread in order; the ``interaction.recorded`` domain
event is appended for the other consumers (recipes, webhooks).
"""

from __future__ import annotations

import functools
import json
import sqlite3
from typing import Any

from quart import Blueprint

from actors.records import NewMessage, participant_json
from actors.store import Tx
from protocol.frames import MAX_BODY_BYTES, MAX_ID_CHARS, Participant
from server.api import known_fields, required_text, text, unicode_text
from server.http import app_state, bad_request, field, json_body, not_found, requires

blueprint = Blueprint("interactions", __name__, url_prefix="/api/v1/conversations")

#: Interaction kinds are short labels ("poll", "question", "quiz", "reaction"...).
MAX_KIND = 64
#: The question or poll title shown with the answer.
MAX_TITLE = 1024
#: Extra details kept with the event, as JSON.
MAX_PAYLOAD_BYTES = 16384
#: client_msg_ids of interactions are stored with this prefix (kept apart from chat sends).
ID_PREFIX = "interaction:"


def _contact(conn: sqlite3.Connection, conversation: str) -> tuple[str, str] | None:
    row = conn.execute(
        "SELECT k.id, k.name FROM conversations c JOIN contacts k ON k.id = c.contact_id "
        "WHERE c.id = ?",
        (conversation,),
    ).fetchone()
    return None if row is None else (str(row[0]), str(row[1]))


@blueprint.post("/<conversation_id>/interactions")
@requires("staff")
async def record_interaction(conversation_id: str) -> tuple[dict[str, Any], int]:
    data = await json_body()
    known_fields(data, ("kind", "title", "answer", "payload", "client_msg_id"))
    kind = required_text(data, "kind", max_len=MAX_KIND)
    title = text(data, "title", max_len=MAX_TITLE)
    answer = unicode_text(field(data, "answer", str, required=True), "answer").strip()
    payload = field(data, "payload", dict, default={})
    if len(json.dumps(payload)) > MAX_PAYLOAD_BYTES:
        raise bad_request(f"payload is over {MAX_PAYLOAD_BYTES} bytes of JSON")
    client_msg_id = field(data, "client_msg_id", str, max_len=MAX_ID_CHARS - len(ID_PREFIX))
    if client_msg_id is not None and not client_msg_id:
        raise bad_request("client_msg_id must not be empty")
    body = f"{title}: {answer}" if title else answer
    if len(body.encode("utf-8")) > MAX_BODY_BYTES:
        raise bad_request(f"title and answer are over {MAX_BODY_BYTES} bytes", "body_too_large")
    state = app_state()
    contact = await state.system.store.read(
        functools.partial(_contact, conversation=conversation_id)
    )
    if contact is None:
        raise not_found(f"conversation {conversation_id} does not exist or has no attendee")
    author = Participant(kind="contact", id=contact[0], name=contact[1])
    details = {"title": title, "answer": answer, **payload}
    stored = await state.system.post(
        NewMessage(
            conversation=conversation_id,
            author=author,
            kind="event",
            body=body,
            client_msg_id=None if client_msg_id is None else ID_PREFIX + client_msg_id,
            data={"event": "interaction", "kind": kind, "title": title, "answer": answer,
                  "payload": payload},
            internal=True,
        )
    )  # fmt: skip
    if stored.duplicate:
        return stored.to_json(), 200

    def record(tx: Tx) -> None:
        tx.append_event(
            "interaction.recorded",
            conversation_id,
            {
                "conversation": conversation_id,
                "participant": participant_json(author),
                "kind": kind,
                "payload": details,
                "ts": tx.now_ms,
            },
        )

    await state.system.store.write(record)
    return stored.to_json(), 201
