"""What was said just before a number: «номер карты», «паспорт», «номер заказа».

A number without a checksum (a passport, a CVC, a 10-digit INN) is only what its cue says
it is, and the cue is often the other speaker's («продиктуйте серию и номер паспорта»).
So the context of a run is every segment, of both speakers, from :data:`CUE_SECONDS`
before it up to where it starts, plus the rest of its own sentence.  When several cues
were said, the nearest one wins: «номер заказа» right before a number outweighs the
«паспорт» said twenty seconds earlier.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from callscribe.domain import Segment
from callscribe.redaction.tokens import Token, normalise

CUE_SECONDS = 30.0
# A cue of a number not to hide only outweighs a checksum or a phone number's shape when
# it comes right before the number («номер заказа 89161234567»), in the same or the
# previous segment, not a question earlier.
NEAR_CHARACTERS = 40
# A reading is taken for what its cue names only if the cue was this close: «Назовите серию
# и номер паспорта. — Секунду, сейчас достану... 4503 712345», not a time said later.
RECENT_CHARACTERS = 80
_AFTER_CHARACTERS = 40  # «4276 3800 1234 5678 — это номер карты»

CUES: Mapping[str, re.Pattern[str]] = {
    label: re.compile(pattern)
    for label, pattern in {
        "card": r"карт[аыуеойч]|карт\b|карточк|\bvisa\b|\bвиза\b|мастеркард|mastercard|"
        r"маэстро|maestro|\bмир\b",
        "cvc": r"\bcv[cv]2?\b|сиви|си-?ви-?[вс]и|\bцвц\b|код безопасност|на обороте|"
        r"обратн\w* сторон|(?:три|трех|3-?х?) (?:последн\w+ )?цифр|трехзначн|\bсекретн\w* код",
        "passport": r"паспорт|\bсери[яюие]\b|\bсерия\b",
        "snils": r"снилс|страхов\w+ (?:номер|свидетельств)|пенсионн\w+ (?:свидетельств|страхов)",
        "inn": r"\bинн\b|налогоплательщик|идентификационн",
        "phone": r"телефон|мобильн|сотов|позвон|перезвон|наберит|звонит|для связи|контактн|"
        r"ватсап|вотсап|whatsapp|телеграм|\bтел\b",
        # Numbers that are what they are said to be, and nothing to hide.
        "other": r"заказ|договор|\bсчет|накладн|трек|заявк|обращени|тикет|артикул|"
        r"квитанц|добавочн|внутренн|\bиндекс|подтвержд|\bсмс\b|\bsms\b|пин-?код|\bpin\b|"
        r"лицев|полис|рейс|кабинет|офис|квартир|посылк|отправлени|штрих|\bчек|imei|имей|"
        r"серийн",
    }.items()
}


@dataclass(frozen=True, slots=True)
class Cues:
    """How far (in characters) the nearest cue of each label is from a run, and which were
    said right before it."""

    distance: Mapping[str, int]
    close: frozenset[str] = frozenset()

    def nearest(self, *labels: str) -> str | None:
        """Of ``labels``, the one said nearest to the run, or None if none was said."""
        said = [label for label in labels if label in self.distance]
        return min(said, key=lambda label: self.distance[label]) if said else None

    def recent(self, label: str) -> bool:
        """``label`` was said in the last sentence or two before the run: the question a
        reading answers, not something said half a minute earlier."""
        return self.distance.get(label, RECENT_CHARACTERS + 1) <= RECENT_CHARACTERS

    def near(self, label: str) -> bool:
        """``label`` was said right before the run, in its own segment or the one before
        it, a few words away: «номер заказа 123», «Ваш номер заказа? — 123»."""
        return label in self.close

    def favours(self, label: str) -> bool:
        """``label`` was said, nearer than any cue of a number not to hide."""
        return self.nearest(label, "other") == label


def cues_around(segments: Sequence[Segment], first: Token, last: Token) -> Cues:
    """The cues said before the run from ``first`` to ``last`` and after it in its sentence."""
    start = segments[first.segment].start
    earlier = [
        normalise(segment.text)
        for index, segment in sorted(enumerate(segments), key=lambda pair: pair[1].start)
        if index != first.segment and start - CUE_SECONDS <= segment.end and segment.start < start
    ]
    own = normalise(segments[first.segment].text[: first.start])
    before = " ".join([*earlier, own])
    close_from = len(before) - len(own) - (len(earlier[-1]) + 1 if earlier else 0)
    after = normalise(segments[last.segment].text[last.end :][:_AFTER_CHARACTERS])
    distance: dict[str, int] = {}
    close: set[str] = set()
    for label, pattern in CUES.items():
        found = [(len(before) - m.end(), m.start() >= close_from) for m in pattern.finditer(before)]
        found += [(m.start(), True) for m in pattern.finditer(after)]
        if found:
            distance[label] = min(gap for gap, _ in found)
            if any(gap <= NEAR_CHARACTERS and adjacent for gap, adjacent in found):
                close.add(label)
    return Cues(distance, frozenset(close))
