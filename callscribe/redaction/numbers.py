"""Spoken and written numbers in a speaker's stream, as runs of digits.

Whisper writes a number read out on the phone as digits («4276 3800»), as words
(«четыре два семь шесть», «сорок два семьдесят шесть»), or both, split by commas, full
stops, the speaker's «так», «дальше», and across segments.  A *group* is one number as
written or said: «4276», «сорок два» (42), «сто двадцать три» (123), «ноль» (0).  A *run*
is the groups said one after another with nothing but punctuation, a few filler words or a
short pause between them: the digits a detector looks at.

What is not an identifier ends a run and is left out: a number followed by a unit
(«двенадцать тысяч пятьсот рублей», «3 минуты», «2024 года», «15-го»), dates, times and
decimals written with a mark inside (15.03.2024, 14:30, 12,5).
"""

from __future__ import annotations

from dataclasses import dataclass

from callscribe.redaction.cues import CUES
from callscribe.redaction.misheard import UNKNOWN, misheard_digit
from callscribe.redaction.tokens import Kind, Stream, Token, word_set

ZERO = frozenset({"ноль", "нуль", "нолю", "ноля"})
UNITS = {
    "один": 1, "одна": 1, "одно": 1, "два": 2, "две": 2, "три": 3, "четыре": 4,
    "пять": 5, "шесть": 6, "семь": 7, "восемь": 8, "девять": 9,
}  # fmt: skip
TEENS = {
    "десять": 10, "одиннадцать": 11, "двенадцать": 12, "тринадцать": 13,
    "четырнадцать": 14, "пятнадцать": 15, "шестнадцать": 16, "семнадцать": 17,
    "восемнадцать": 18, "девятнадцать": 19,
}  # fmt: skip
TENS = {
    "двадцать": 20, "тридцать": 30, "сорок": 40, "пятьдесят": 50, "шестьдесят": 60,
    "семьдесят": 70, "восемьдесят": 80, "девяносто": 90,
}  # fmt: skip
HUNDREDS = {
    "сто": 100, "двести": 200, "триста": 300, "четыреста": 400, "пятьсот": 500,
    "шестьсот": 600, "семьсот": 700, "восемьсот": 800, "девятьсот": 900,
}  # fmt: skip
THOUSAND = frozenset({"тысяча", "тысячи", "тысяч", "тыщ", "тыщи"})

# Words a speaker puts between the parts of a number they read out; more than two in a
# row end the run.  «номер» and «серия» sit between a passport's series and number.
FILLERS = word_set(
    "э ээ эээ эм м мм ну так вот дальше далее потом затем и а еще да угу ага значит "
    "сейчас секунду минуточку это номер серия тире дефис пробел"
)
MAX_FILLERS = 2
JOINING_MARKS = frozenset(",.-–—()…;№")
# A speaker pausing longer than this between two segments has moved on to something else
# (their own segments: the other speaker's «да» between them does not count).
MAX_PAUSE_SECONDS = 10.0
# ... or the other speaker said more than «да, записываю, дальше» in between.
MAX_WORDS_BETWEEN = 4
MAX_UNKNOWN_IN_A_ROW = 2  # misheard digits (misheard.py); more is not a reading

# A number directly followed by one of these counts something; it is not an identifier.
_UNIT_STEMS = (
    "руб", "коп", "доллар", "евро", "бакс", "минут", "мин", "час", "секунд", "сек",
    "день", "дня", "дней", "сут", "недел", "месяц", "год", "лет", "раз", "штук", "шт",
    "процент", "цифр", "человек", "кило", "кг", "грамм", "метр", "км", "литр",
    "градус", "балл", "этаж", "квартал", "тысячн", "мб", "гб", "позиц", "товар",
    "января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября",
    "октября", "ноября", "декабря",
)  # fmt: skip
# «15-го», «2-х», «3-й»: an ordinal or an inflected count.
_ENDINGS = word_set("го й я е ое ая ый ий ых х ти ми ом м у ю")
_UNIT_MARKS = frozenset("%₽$€")


@dataclass(frozen=True, slots=True)
class Group:
    """One number as written or said: its digits and the tokens it spans (inclusive)."""

    digits: str
    first: int
    last: int


@dataclass(frozen=True, slots=True)
class Run:
    """Groups said one after another: the candidates for an identifier."""

    stream: Stream
    groups: tuple[Group, ...]
    plus: bool  # a "+" written right before the first group (an international number)

    @property
    def digits(self) -> str:
        return "".join(group.digits for group in self.groups)

    def tokens(self, first_group: int, end_group: int) -> tuple[Token, ...]:
        """The tokens from group ``first_group`` to group ``end_group - 1``, fillers too."""
        first = self.groups[first_group].first
        last = self.groups[end_group - 1].last
        if first_group == 0 and self.plus:
            first -= 1
        return self.stream.tokens[first : last + 1]


def number_runs(stream: Stream) -> list[Run]:
    return _RunReader(stream).read()


class _RunReader:
    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.tokens = stream.tokens
        self.runs: list[Run] = []
        self.groups: list[Group] = []
        self.plus = False

    def read(self) -> list[Run]:
        index, fillers = 0, 0
        while index < len(self.tokens):
            token = self.tokens[index]
            if token.pause is not None and self._moved_on(token):
                self._close()
            group = self._group_at(index)
            if group is not None:
                if self._counts_something(group.last + 1):
                    self._drop_chunk_before(group)
                    self._close()
                else:
                    self.groups.append(group)
                index, fillers = group.last + 1, 0
                continue
            if (token.is_mark("+") or token.is_word("плюс")) and self._group_at(index + 1):
                self._close()
                self.plus = True
            elif token.kind is Kind.MARK and token.text in JOINING_MARKS:
                pass
            elif token.kind is Kind.WORD and token.text in FILLERS and fillers < MAX_FILLERS:
                fillers += 1
            else:
                self._close()
            index += 1
        self._close()
        return self.runs

    @staticmethod
    def _moved_on(token: Token) -> bool:
        """Whether the conversation moved on between this speaker's segments: a long pause,
        or the other speaker saying more than «да, записываю» or asking for something."""
        between = token.said_between
        return (
            (token.pause or 0.0) > MAX_PAUSE_SECONDS
            or len(between.split()) > MAX_WORDS_BETWEEN
            or any(pattern.search(between) for pattern in CUES.values())
        )

    def _close(self) -> None:
        if self.groups:
            self.runs.append(Run(self.stream, tuple(self.groups), self.plus))
        self.groups, self.plus = [], False

    def _group_at(self, index: int) -> Group | None:
        if index >= len(self.tokens):
            return None
        token = self.tokens[index]
        if token.kind is Kind.DIGITS:
            return self._tens_and_unit(self._thousands(Group(token.text, index, index)))
        if token.kind is not Kind.WORD:
            return None
        # «о» reads as zero only inside a run, before another number: «восемь о три».
        if token.text == "о" and self.groups and self._spoken(index + 1) is not None:
            return Group("0", index, index)
        spoken = self._spoken(index)
        if spoken is not None:
            return self._tens_and_unit(spoken)
        return self._misheard(index)

    def _misheard(self, index: int) -> Group | None:
        """A word inside a digit-by-digit reading that stands for a digit (``misheard.py``):
        one letter off a digit's name, or unknown and followed by more digits."""
        word = self.tokens[index].text
        if not self.groups or len(self.groups[-1].digits) != 1 or word in FILLERS:
            return None
        if any(
            self.tokens[between].kind is not Kind.MARK
            for between in range(self.groups[-1].last + 1, index)
        ):
            return None  # only marks between it and the digit before: «4, ворсен»
        if any(pattern.search(word) for pattern in CUES.values()):
            return None
        digit = misheard_digit(word)
        if digit != UNKNOWN:
            return None if digit is None else Group(digit, index, index)
        unknown_before = 0
        while (
            unknown_before < len(self.groups) and self.groups[-1 - unknown_before].digits == UNKNOWN
        ):
            unknown_before += 1
        if self._reading_goes_on(index + 1, unknown_before + 1):
            return Group(UNKNOWN, index, index)
        return None

    def _reading_goes_on(self, index: int, unknown: int) -> bool:
        """Whether two more digits follow, as in a reading, with no more than
        :data:`MAX_UNKNOWN_IN_A_ROW` unknown words in a row («Нажмите 4, чтобы...» ends)."""
        digits = 0
        while index < len(self.tokens) and digits < 2 and unknown <= MAX_UNKNOWN_IN_A_ROW:
            token = self.tokens[index]
            if token.pause is not None and self._moved_on(token):
                break
            spoken = self._spoken(index) if token.kind is Kind.WORD else None
            digit = misheard_digit(token.text) if token.kind is Kind.WORD else None
            if token.kind is Kind.DIGITS or spoken is not None:
                digits, unknown = digits + len(spoken.digits if spoken else token.text), 0
                index = spoken.last if spoken is not None else index
            elif digit is not None:
                digits, unknown = (digits, unknown + 1) if digit == UNKNOWN else (digits + 1, 0)
            elif token.kind is not Kind.MARK:
                break
            index += 1
        return digits >= 2

    def _spoken(self, index: int) -> Group | None:
        """The longest compound numeral starting at ``index``: «сто двадцать три» = 123,
        «двенадцать тысяч пятьсот» = 12500; words said as digits stay apart («два три»)."""
        if index >= len(self.tokens) or self.tokens[index].kind is not Kind.WORD:
            return None
        if self.tokens[index].text in ZERO:
            return Group("0", index, index)
        value, rank, thousands, end = 0, 4, 0, index
        while end < len(self.tokens) and (end == index or self.stream.adjacent(end)):
            word = self.tokens[end].text
            if word in HUNDREDS and rank > 3:
                value, rank = value + HUNDREDS[word], 3
            elif word in TENS and rank > 2:
                value, rank = value + TENS[word], 2
            elif word in TEENS and rank > 2:
                value, rank = value + TEENS[word], 1
            elif word in UNITS and rank > 1:
                value, rank = value + UNITS[word], 1
            elif word in THOUSAND and not thousands and (value or word == "тысяча"):
                thousands, value, rank = value or 1, 0, 4
            elif word in THOUSAND and self.tokens[end - 1].text in UNITS and end - 1 > index:
                # «две тысячи сто двадцать шесть тысяч сто пять»: a card read as whole
                # four-digit numbers; the digit before the second «тысяч» starts the next.
                value -= UNITS[self.tokens[end - 1].text]
                return Group(str(thousands * 1000 + value), index, end - 2)
            else:
                break
            end += 1
        if end == index:
            return None
        return Group(str(thousands * 1000 + value), index, end - 1)

    def _thousands(self, group: Group) -> Group:
        """«12 тысяч» is 12000, as the amount it is."""
        after = group.last + 1
        if self.stream.adjacent(after) and self.tokens[after].text in THOUSAND:
            return Group(group.digits + "000", group.first, after)
        return group

    def _tens_and_unit(self, group: Group) -> Group:
        """«30, 8», «30-8», «тридцать, восемь» are 38: Whisper writes a pair said with a
        pause inside as its tens and its unit apart.  (Digits read one by one come out as
        «3, 8» or «три, восемь», never as a round ten.)"""
        if group.first != group.last or len(group.digits) != 2 or group.digits[0] in "01":
            return group
        if group.digits[1] != "0":
            return group
        unit = group.last + 1
        if unit < len(self.tokens) and self.tokens[unit].is_mark(",", "-"):
            unit += 1
        if not self.stream.adjacent(unit):
            return group
        token = self.tokens[unit]
        digit = token.text if token.kind is Kind.DIGITS else str(UNITS.get(token.text, ""))
        if len(digit) != 1 or digit == "0" or self._counts_something(unit + 1):
            return group
        return Group(group.digits[0] + digit, group.first, unit)

    def _counts_something(self, after: int) -> bool:
        if not self.stream.adjacent(after):
            return False
        token = self.tokens[after]
        if token.kind is Kind.WORD:
            return token.text.startswith(_UNIT_STEMS)
        if token.is_mark("-") and self.stream.adjacent(after + 1):
            return self.tokens[after + 1].text in _ENDINGS
        return token.kind is Kind.MARK and token.text in _UNIT_MARKS

    def _drop_chunk_before(self, group: Group) -> None:
        """«12 500 рублей»: the groups written together with a counted one count too."""
        first = group.first
        while self.groups and self.groups[-1].last + 1 == first and self.stream.adjacent(first):
            first = self.groups.pop().first
