"""The notification bodies an admin pastes into UIS («Уведомления» → «Добавить»), one per
event type, printed by ``callscribe sources uis-template NAME``.

The placeholders of each event are the ones UIS's own integrations publish for it (the
Usedesk and Okdesk guides, the Planfix guide), written unquoted as UIS expects: it puts
JSON values in their place.  Only ``call_session_id`` and ``callscribe_event`` are
required; the rest describes the call and stays in its ``raw`` fields for routes and
mappings.
"""

from __future__ import annotations

from dataclasses import dataclass

from callscribe.connectors.sources.uis import (
    CALL_END,
    EVENT_KEY,
    LOST_CALL,
    RECORDED_TALK,
    TOKEN_KEY,
)

_COMMON = (
    "app_id", "call_session_id", "communication_id", "contact_full_name", "contact_id",
    "contact_phone_number", "direction", "notification_mnemonic", "notification_name",
    "notification_time", "start_time", "virtual_phone_number",
)  # fmt: skip

# «Завершение звонка»: every placeholder of Usedesk's published body for this event.
_CALL_END = (
    "call_source", "called_phone_number", "calling_phone_number", "clean_talk_time_duration",
    "communication_type", "connection_time", "contact_group_ids", "cpn_region_id",
    "cpn_region_name", "employee_full_name", "employee_full_names", "employee_group_ids",
    "employee_id", "employee_ids", "employee_phone_number", "extension_phone_number",
    "external_id", "finish_reason", "finish_time", "first_answered_employee_full_name",
    "first_answered_employee_id", "first_talked_employee_full_name", "first_talked_employee_id",
    "group_ids", "is_lost", "is_transfer", "last_answered_employee_full_name",
    "last_answered_employee_id", "last_scenario_operation_id", "last_scenario_operation_name",
    "last_talked_employee_full_name", "last_talked_employee_id", "lost_reason",
    "noanswered_employee_full_names", "notification_timestamp", "operator_rating",
    "postprocess_time_duration", "record_file_links", "scenario_id", "scenario_name",
    "scenario_operation_ids", "scenario_operation_names", "tag_ids", "tag_names",
    "talk_time_duration", "talked_employee_full_names", "toc_group_ids", "total_time_duration",
    "total_wait_time_duration", "tp_project", "visitor_country", "wait_time_duration",
)  # fmt: skip

# «Записанный разговор»: Okdesk's body and the Planfix guide's list for this event.
_RECORDED_TALK = (
    "communication_number", "employee_full_name", "employee_id", "extension_phone_number",
    "file_duration", "file_link", "scenario_name", "tag_ids", "tag_names",
)  # fmt: skip

# «Потерянный звонок»: Okdesk's body and the Planfix guide's list for this event.
_LOST_CALL = (
    "communication_number", "employee_ids", "extension_phone_number", "file_duration",
    "file_link", "noanswered_employee_full_names", "scenario_name", "wait_time_duration",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Template:
    event_type: str  # as UIS's «Тип события» list names it
    event: str  # callscribe_event
    placeholders: tuple[str, ...]

    def body(self, token: str) -> str:
        """The JSON body to paste, with ``token`` in it."""
        lines = [f'"{TOKEN_KEY}":"{token}"', f'"{EVENT_KEY}":"{self.event}"']
        lines += [f'"{name}":{{{{{name}}}}}' for name in self.placeholders]
        return "{\n" + ",\n".join(lines) + "\n}"


TEMPLATES = (
    Template("Завершение звонка", CALL_END, tuple(sorted({*_COMMON, *_CALL_END}))),
    Template("Записанный разговор", RECORDED_TALK, tuple(sorted({*_COMMON, *_RECORDED_TALK}))),
    Template("Потерянный звонок", LOST_CALL, tuple(sorted({*_COMMON, *_LOST_CALL}))),
)
